// The mixture-of-experts end-to-end check shared by test/runtime/moe.test.ts (CPU layout) and moeRansPath.test.ts
// (rANS streams): a seeded synthetic Llama with 8 experts (2 used per token, as Mixtral), its expert stacks coded
// (MUL_MAT_ID on coded weights), loaded through node-llama-cpp with the patched build, against its dequantised F32
// twin (`--emit-dequantized`) loaded the same way: logits within the kernels' arithmetic, greedy tokens equal. The
// weights are random, so the text is noise; what matters is that both give the same noise.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { Llama, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { makeSyntheticModel, type SyntheticModelShape } from "../../src/bench/makeSyntheticModel.js";
import { convertModel, type ConvertSummary } from "../../src/convert/convertModel.js";
import { dequantizeModel } from "../../src/convert/dequantizeModel.js";
import { getEntLlama } from "../../src/runtime/getEntLlama.js";
import { evaluateModel } from "./evaluateModel.js";

// 256 wide, 8 experts of 512: each expert's rows fill whole CPU layout groups or not (gate/up: 512 rows, down: 256)
const SHAPE: SyntheticModelShape = { layers: 2, dim: 256, ffn: 512, heads: 4, kvHeads: 2, vocab: 512, type: "f16", seed: 5, experts: 8, expertsUsed: 2 };
const GREEDY_TOKENS = 24;
// the CPU layout's int16 activations (see test/runtime/endToEnd.test.ts for the reasoning): observed 2.0e-3.
// rANS streams: the same f32 weights, sums in another order (the kernel alone is within NMSE ~1e-14 of an f64
// reference, native/cpu/test), observed 3.4e-4 on logits up to ~6: more than stories260K's 7e-6 because these
// rows are 256-512 random heavy-tailed weights with 10x outliers, whose rounding differences the random layers
// amplify; 1e-3 leaves a 3x margin. A misplaced row, a wrong expert or a wrong scale moves logits by O(1).
const LOGIT_TOL_LAYOUT = 1e-2;
const LOGIT_TOL_RANS = 1e-3;

function evaluate(llama: Llama, modelPath: string, useMmap: boolean) {
    // a prompt of ordinary vocabulary tokens: a batch routes its tokens to many experts at once; generation
    // then decodes 2 of 8 experts per layer and token
    return evaluateModel(llama, modelPath, useMmap, (model) => [model.tokens.bos!, ...Array.from({ length: 40 }, (_, i) => 259 + ((i * 97) % 253))] as Token[], GREEDY_TOKENS);
}

/** Registers the test: convert, dequantise, then coded vs twin with and without mmap; `path` is the one the coded weights must take. */
export function describeMoeEndToEnd(path: "CPU layout" | "rANS streams"): void {
    describe(`a coded mixture-of-experts model through node-llama-cpp (patched build), ${path}`, () => {
        let llama: Llama;
        let dir: string;
        let coded: string;
        let reference: string;
        let summary: ConvertSummary;

        beforeAll(async () => {
            llama = await getEntLlama();
            dir = mkdtempSync(join(tmpdir(), "entgguf-moe-e2e-"));
            const source = join(dir, "moe.gguf");
            coded = join(dir, "moe.entq.gguf");
            reference = join(dir, "moe.dequantized.gguf");
            await makeSyntheticModel(source, SHAPE);
            summary = await convertModel(source, coded, { bits: 3, progress: false });
            await dequantizeModel(coded, reference);
        });
        afterAll(() => {
            if (dir) rmSync(dir, { recursive: true, force: true });
        });

        for (const useMmap of [true, false])
            it(`${useMmap ? "mmap" : "no mmap"}: logits match the dequantised twin, greedy tokens are equal`, async () => {
                const exps = summary.tensors.filter((t) => t.experts === 8);
                expect(exps).toHaveLength(3 * SHAPE.layers); // gate, up, down stacks of every layer coded
                const c = await evaluate(llama, coded, useMmap);
                const ref = await evaluate(llama, reference, useMmap);
                let maxDiff = 0;
                let maxAbs = 0;
                for (let i = 0; i < ref.logits.length; i++)
                    for (let t = 0; t < ref.logits[i]!.length; t++) {
                        maxDiff = Math.max(maxDiff, Math.abs(c.logits[i]![t]! - ref.logits[i]![t]!));
                        maxAbs = Math.max(maxAbs, Math.abs(ref.logits[i]![t]!));
                    }
                const tol = c.layoutWeights > 0 ? LOGIT_TOL_LAYOUT : LOGIT_TOL_RANS;
                console.log(
                    `MoE 8x2 (${summary.bitsPerWeight.toFixed(2)} bits/weight, ${summary.tensors.length} coded of which ${exps.length} expert stacks, ` +
                        `${useMmap ? "mmap" : "no mmap"}): max |logit diff| ${maxDiff.toExponential(2)} over ${ref.logits.length} positions ` +
                        `(max |logit| ${maxAbs.toFixed(2)}, bound ${tol}); ${c.layoutLine || "no CPU layout"}; greedy ${JSON.stringify(c.greedy)}`
                );
                expect(c.layoutWeights).toBe(path === "CPU layout" ? summary.tensors.length : 0);
                expect(maxAbs).toBeGreaterThan(0.5);
                expect(maxDiff).toBeLessThan(tol);
                expect(c.greedy.length).toBe(GREEDY_TOKENS);
                expect(c.greedy).toEqual(ref.greedy);
            });
    });
}
