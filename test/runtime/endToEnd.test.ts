// End to end: stories260K converted by `entgguf convert` (linear weights as ENTQ streams), loaded through node-llama-cpp with
// the patched build, against its dequantised F32 twin loaded the same way. The weights are identical,
// so logits may differ only by f32 summation order; greedy text must be the same.
import { existsSync, mkdtempSync, openSync, readFileSync, closeSync, writeSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { GgufInsights, readGgufFileInfo, type Llama, type Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { convertModel, type ConvertOptions } from "../../src/convert/convertModel.js";
import { dequantizeModel } from "../../src/convert/dequantizeModel.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { packageRoot } from "../../src/native/binding.js";
import { getEntLlama } from "../../src/runtime/getEntLlama.js";

const MODEL = join(packageRoot(), "..", "shared", "models", "stories260K.gguf");
const hasModel = existsSync(MODEL);
if (!hasModel) console.warn(`skipping the end-to-end runtime tests: ${MODEL} is absent (../shared is not mounted)`);

const PROMPT = "Once upon a time, there was a little girl named Lily.";
const GREEDY_TOKENS = 48;
// |logit difference| bound. Same f32 weights; only the order of each dot product's sums differs (the coded
// kernel uses ggml_vec_dot_f32 per row, f32 mul_mat tiles differently), ~1e-7 relative per dot: observed max
// 7e-6 on logits up to ~20. The context keeps K, V and attention in f32 (F32 cache, no flash attention):
// otherwise those tiny differences can flip one f16 rounding (half an ulp is 2.4e-4 relative) and logits
// then differ by ~5e-3 from that position on. One wrong code moves logits by far more than 1e-4.
const LOGIT_TOL = 1e-4;

const variants: { name: string; options: ConvertOptions }[] = [
    // high rate: plain per-row absmax INT8 (~7 bits/weight)
    { name: "int8-absmax", options: { codes: "int8", objective: "absmax" } },
    // low rate: FP8 with EntQuant's objective at 3 bits/weight (2 leaves this 260K model babbling), several segments per tensor
    { name: "fp8-l1-3bit", options: { codes: "fp8", objective: "l1", bits: 3, segmentSymbols: 1024 } }
];

interface Fixture {
    coded: string;
    /** `entgguf convert --emit-dequantized`: the same weights as F32 */
    reference: string;
    codedTensors: number;
    bitsPerWeight: number;
}

async function makeFixture(dir: string, name: string, options: ConvertOptions): Promise<Fixture> {
    const coded = join(dir, `${name}.gguf`);
    const reference = join(dir, `${name}.dequantized.gguf`);
    const summary = await convertModel(MODEL, coded, { ...options, progress: false });
    await dequantizeModel(coded, reference);
    return { coded, reference, codedTensors: summary.tensors.length, bitsPerWeight: summary.bitsPerWeight };
}

async function evaluate(llama: Llama, modelPath: string, useMmap: boolean) {
    const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap });
    try {
        const context = await model.createContext({
            contextSize: 256,
            batchSize: 64,
            sequences: 1,
            flashAttention: false,
            experimentalKvCacheKeyType: "F32",
            experimentalKvCacheValueType: "F32"
        });
        const sequence = context.getSequence();
        const prompt = [model.tokens.bos!, ...model.tokenize(PROMPT)] as Token[];
        const out = await sequence.controlledEvaluate(prompt.map((t) => [t, { generateNext: { logits: true } }]));
        const logits = out.map((o, i) => {
            const m = o?.next.logits;
            if (!m) throw new Error(`no logits at prompt position ${i}`);
            const row = new Float64Array(m.size); // every token of the vocabulary
            for (const [t, v] of m) row[t] = v;
            return row;
        });
        await sequence.clearHistory();
        const greedy: Token[] = [];
        for await (const t of sequence.evaluate(prompt, { temperature: 0 })) {
            greedy.push(t);
            if (greedy.length >= GREEDY_TOKENS) break;
        }
        await context.dispose();
        return { logits, greedy, text: model.detokenize(greedy) };
    } finally {
        await model.dispose();
    }
}

describe.skipIf(!hasModel)("coded stories260K through node-llama-cpp (patched build)", () => {
    let llama: Llama;
    let dir: string;
    const fixtures = new Map<string, Fixture>();

    beforeAll(async () => {
        llama = await getEntLlama(); // builds the patched llama.cpp on the first run (minutes)
        dir = mkdtempSync(join(tmpdir(), "entgguf-e2e-"));
        for (const v of variants) fixtures.set(v.name, await makeFixture(dir, v.name, v.options));
    });
    afterAll(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const v of variants)
        for (const useMmap of [true, false])
            it(`${v.name}, ${useMmap ? "mmap" : "no mmap"}: logits match the dequantised twin, greedy text is equal`, async () => {
                const fx = fixtures.get(v.name)!;
                expect(fx.codedTensors).toBe(35);
                const coded = await evaluate(llama, fx.coded, useMmap);
                const ref = await evaluate(llama, fx.reference, useMmap);
                let maxDiff = 0;
                let maxAbs = 0;
                for (let i = 0; i < ref.logits.length; i++)
                    for (let t = 0; t < ref.logits[i]!.length; t++) {
                        maxDiff = Math.max(maxDiff, Math.abs(coded.logits[i]![t]! - ref.logits[i]![t]!));
                        maxAbs = Math.max(maxAbs, Math.abs(ref.logits[i]![t]!));
                    }
                console.log(
                    `${v.name} (${fx.bitsPerWeight.toFixed(2)} bits/weight, ${useMmap ? "mmap" : "no mmap"}): ` +
                        `max |logit diff| ${maxDiff.toExponential(2)} over ${ref.logits.length} positions (max |logit| ${maxAbs.toFixed(2)}); ` +
                        `greedy: ${JSON.stringify(coded.text)}`
                );
                expect(maxAbs).toBeGreaterThan(1);
                expect(maxDiff).toBeLessThan(LOGIT_TOL);
                expect(coded.greedy.length).toBe(GREEDY_TOKENS);
                expect(coded.greedy).toEqual(ref.greedy);
            });

    it("node-llama-cpp sizes the coded model from the patched type traits exactly", async () => {
        const fx = fixtures.get("fp8-l1-3bit")!;
        const reader = await readGguf(fx.coded);
        const dataBytes = reader.info.tensors.reduce((s, t) => s + t.byteSize, 0);
        await reader.close();
        const codedInsights = await GgufInsights.from(await readGgufFileInfo(fx.coded), llama);
        const refInsights = await GgufInsights.from(await readGgufFileInfo(fx.reference), llama);
        expect(codedInsights.modelSize).toBe(dataBytes);
        expect(codedInsights.modelSize).toBeLessThan(refInsights.modelSize);
        const req = codedInsights.estimateModelResourceRequirements({ gpuLayers: 0 });
        expect(req.cpuRam).toBeGreaterThanOrEqual(dataBytes);
        expect(req.cpuRam).toBeLessThan(refInsights.estimateModelResourceRequirements({ gpuLayers: 0 }).cpuRam);
    });

    // llama.cpp reports why a load failed through its log; node-llama-cpp's error only says that it failed
    async function expectRefused(modelPath: string, reason: RegExp) {
        const logs: string[] = [];
        const logger = llama.logger;
        llama.logger = (level, message) => void logs.push(message);
        let error: Error | undefined;
        try {
            await llama.loadModel({ modelPath, gpuLayers: 0 });
        } catch (e) {
            error = e as Error;
            // log lines cross threads asynchronously: wait for llama.cpp's last line about this load
            for (let i = 0; i < 100 && !logs.some((l) => l.includes("failed to load model")); i++) await new Promise((r) => setTimeout(r, 20));
        } finally {
            llama.logger = logger;
        }
        expect(error, `${modelPath} must not load`).toBeDefined();
        expect(`${error!.message}\n${logs.join("")}`).toMatch(reason);
    }

    it("refuses a coded tensor whose header does not match, naming the tensor", async () => {
        const fx = fixtures.get("int8-absmax")!;
        const reader = await readGguf(fx.coded);
        const t = reader.tensor("blk.2.ffn_down.weight")!;
        await reader.close();
        for (const [what, offset, value, message] of [
            ["shape", 8, 63, /blk\.2\.ffn_down\.weight.*shape/],
            ["version", 4, 9, /blk\.2\.ffn_down\.weight.*version/]
        ] as const) {
            const bad = join(dir, `bad-${what}.gguf`);
            copyFileSync(fx.coded, bad);
            const fd = openSync(bad, "r+");
            writeSync(fd, Buffer.from([value]), 0, 1, t.fileOffset + offset);
            closeSync(fd);
            await expectRefused(bad, message);
        }
        // a section out of bounds is found once the bytes are loaded (entq_parse), also by name
        const bad = join(dir, "bad-scales.gguf");
        copyFileSync(fx.coded, bad);
        const bytes = readFileSync(bad);
        bytes.writeUInt16LE(0x7c00, t.fileOffset + 36); // first row scale = +inf
        const fd = openSync(bad, "r+");
        writeSync(fd, bytes, t.fileOffset + 36, 2, t.fileOffset + 36);
        closeSync(fd);
        await expectRefused(bad, /blk\.2\.ffn_down\.weight.*scale/);
    });
});
