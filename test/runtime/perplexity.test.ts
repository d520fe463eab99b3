// Perplexity through llama.cpp's own tool on the CPU layout (issue 14): the shared 5M model coded at 2.5 bits/weight
// against its dequantised F32 twin (`convert --emit-dequantized`: the same weights), llama-perplexity on
// tinystories-val with the model's context (256). llama-perplexity evaluates whole batches, so this is the
// prompt path (integer tiles over int16 activations); the two perplexities must agree within 0.5% (relative).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { parsePerplexityOutput } from "../../src/bench/parsePerplexityOutput.js";
import { runTool } from "../../src/bench/runTool.js";
import { convertModel } from "../../src/convert/convertModel.js";
import { dequantizeModel } from "../../src/convert/dequantizeModel.js";
import { buildLlamaTools, type LlamaTools } from "../../src/runtime/buildLlamaTools.js";
import { sharedFile } from "../helpers/sharedData.js";

const model = sharedFile("models/small-llama-5m-f16.gguf");
const text = sharedFile("text/tinystories-val.txt");
const missing = model.missing ?? text.missing;
if (missing) console.warn(`perplexity test on the CPU layout ${missing}`);

// a first tools build takes ~12 minutes on 2 busy cores: more than vitest's hook timeout allows
const TOOLS_BUILD_TIMEOUT_MS = 40 * 60_000;
const CHUNKS = 120; // 120 x 256 tokens of the validation text

describe.skipIf(!!missing)("perplexity of the 5M model on the CPU layout (llama-perplexity)", () => {
    let dir: string;
    let tools: LlamaTools;
    beforeAll(async () => {
        tools = await buildLlamaTools();
        dir = mkdtempSync(join(tmpdir(), "entgguf-ppl-"));
    }, TOOLS_BUILD_TIMEOUT_MS);
    afterAll(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("is within 0.5% of the dequantised twin's", async () => {
        const coded = join(dir, "5m-2.5.gguf");
        const reference = join(dir, "5m-2.5.dequantized.gguf");
        await convertModel(model.path, coded, { bits: 2.5, progress: false });
        await dequantizeModel(coded, reference);
        const run = async (file: string, name: string) => {
            const { output } = await runTool(
                tools.tools["llama-perplexity"],
                ["-m", file, "-f", text.path, "-c", "256", "--chunks", String(CHUNKS), "-t", "2", "-v"], // -v: llama.cpp's load report too
                join(dir, `${name}.log`)
            );
            return { ...parsePerplexityOutput(output), layout: /entq: CPU layout: (\d+) of (\d+)/.exec(output) };
        };
        const c = await run(coded, "coded");
        const r = await run(reference, "reference");
        const rel = Math.abs(c.ppl.value - r.ppl.value) / r.ppl.value;
        console.log(
            `5M model at 2.5 bits, ${c.chunks} x ${c.nCtx} tokens of tinystories-val: PPL ${c.ppl.value.toFixed(4)} (coded, ${c.layout?.[0] ?? "no CPU layout"}) ` +
                `vs ${r.ppl.value.toFixed(4)} (dequantised twin): ${(rel * 100).toFixed(3)}% apart`
        );
        expect(c.layout?.[1]).toBe("44"); // every coded weight on the CPU layout
        expect(c.chunks).toBe(CHUNKS);
        expect(rel).toBeLessThan(0.005);
    }, 10 * 60_000);
});
