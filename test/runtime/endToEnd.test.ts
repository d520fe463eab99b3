// End to end: models converted by `entgguf convert` (linear weights, output head and token embeddings as ENTQ streams),
// loaded through node-llama-cpp with
// the patched build, against their dequantised F32 twins loaded the same way. The weights are identical; the logits
// may differ only as the kernels' arithmetic allows (LOGIT_TOL below), and greedy text must be the same.
import { mkdtempSync, openSync, readFileSync, readSync, closeSync, writeSync, copyFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { GgufInsights, readGgufFileInfo, type Llama, type Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { convertModel, type ConvertOptions } from "../../src/convert/convertModel.js";
import { dequantizeModel } from "../../src/convert/dequantizeModel.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { writeGguf } from "../../src/gguf/writeGguf.js";
import { getEntLlama } from "../../src/runtime/getEntLlama.js";
import { evaluateModel } from "../helpers/evaluateModel.js";
import { demoModel, sharedFile } from "../helpers/sharedData.js";

const MODEL = demoModel;
const model5m = sharedFile("models/small-llama-5m-f16.gguf");
const MODEL_5M = model5m.path;
if (model5m.missing) console.warn(`the 5M model's end-to-end runtime tests are ${model5m.missing}`);

const PROMPT = "Once upon a time, there was a little girl named Lily.";
const GREEDY_TOKENS = 48;
// |logit difference| bounds, by the path the coded weights take on the CPU (llama.cpp's log says which):
// * rANS streams multiply f32 activations: the same f32 weights, only the order of each dot product's sums differs
//   (~1e-7 relative per dot): observed max 7e-6 on logits up to ~20.
// * the CPU layout multiplies int16 activations: each activation is rounded to within 2^-16 of the largest in its
//   block of 1024 (native/cpu/entq_layout_dot.h), i.e. a relative perturbation of ~1.5e-5 x (block max / |x|), some
//   1e-4 for these models' activation vectors (largest ~5-10x their rms); through the layers that moves logits of
//   ~15 by ~1e-3 (observed max 2e-3 on stories260K, see the log of this test); 1e-2 leaves a 5x margin. A misplaced
//   row, a wrong scale or a swapped code moves logits by far more (the codes themselves are checked bit for bit
//   in test/cpu/cpuLayout.test.ts and native/test/cpu_layout_test.cpp).
// The context keeps K, V and attention in f32 (F32 cache, no flash attention): otherwise those tiny differences
// can flip one f16 rounding (half an ulp is 2.4e-4 relative) and logits then differ by ~5e-3 from that position on.
const LOGIT_TOL_RANS = 1e-4;
const LOGIT_TOL_LAYOUT = 1e-2;

// "tied:" models are the model without output.weight: llama.cpp then multiplies by the (coded) token embeddings
const allVariants: { name: string; model: string; options: ConvertOptions; coded: number }[] = [
    // high rate: plain per-row absmax INT8 (~7 bits/weight); 35 linear weights, the output head, the embeddings
    { name: "int8-absmax", model: MODEL, options: { codes: "int8", objective: "absmax" }, coded: 37 },
    // low rate: FP8 with EntQuant's objective at 3 bits/weight (2 leaves this 260K model babbling), several segments per tensor
    { name: "fp8-l1-3bit", model: MODEL, options: { codes: "fp8", objective: "l1", bits: 3, segmentSymbols: 1024 }, coded: 37 },
    // one coded weight as embeddings and output head
    { name: "tied-fp8-3bit", model: `tied:${MODEL}`, options: { codes: "fp8", bits: 3 }, coded: 36 },
    // the real 256-wide model at 2.5 bits/weight: every coded weight runs on the CPU layout
    { name: "5m-fp8-2.5bit", model: MODEL_5M, options: { codes: "fp8", bits: 2.5 }, coded: 44 }
];
const variants = allVariants.filter((v) => !(v.model === MODEL_5M && model5m.missing));

interface Fixture {
    coded: string;
    /** `entgguf convert --emit-dequantized`: the same weights as F32 */
    reference: string;
    codedTensors: number;
    bitsPerWeight: number;
}

/** `model` without its output.weight (a model with tied embeddings), written into dir. */
async function untieOutput(dir: string, model: string): Promise<string> {
    const out = join(dir, "tied-source.gguf");
    const reader = await readGguf(model);
    try {
        const kept = reader.info.tensors.filter((t) => t.name !== "output.weight");
        await writeGguf(out, { version: reader.info.version, metadata: reader.info.metadata, tensors: kept.map((t) => ({ name: t.name, type: t.type, dims: t.dims })) }, (_, i) =>
            reader.readTensorChunks(kept[i]!)
        );
    } finally {
        await reader.close();
    }
    return out;
}

async function makeFixture(dir: string, name: string, model: string, options: ConvertOptions): Promise<Fixture> {
    if (model.startsWith("tied:")) model = await untieOutput(dir, model.slice("tied:".length));
    const coded = join(dir, `${name}.gguf`);
    const reference = join(dir, `${name}.dequantized.gguf`);
    const summary = await convertModel(model, coded, { ...options, progress: false });
    await dequantizeModel(coded, reference);
    return { coded, reference, codedTensors: summary.tensors.length, bitsPerWeight: summary.bitsPerWeight };
}

function evaluate(llama: Llama, modelPath: string, useMmap: boolean) {
    return evaluateModel(llama, modelPath, useMmap, (model) => [model.tokens.bos!, ...model.tokenize(PROMPT)] as Token[], GREEDY_TOKENS);
}

describe("coded models through node-llama-cpp (patched build)", () => {
    let llama: Llama;
    let dir: string;
    const fixtures = new Map<string, Fixture>();

    beforeAll(async () => {
        llama = await getEntLlama(); // builds the patched llama.cpp on the first run (minutes)
        dir = mkdtempSync(join(tmpdir(), "entgguf-e2e-"));
        for (const v of variants) fixtures.set(v.name, await makeFixture(dir, v.name, v.model, v.options));
    });
    afterAll(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const v of variants)
        for (const useMmap of [true, false])
            it(`${v.name}, ${useMmap ? "mmap" : "no mmap"}: logits match the dequantised twin, greedy text is equal`, async () => {
                const fx = fixtures.get(v.name)!;
                expect(fx.codedTensors).toBe(v.coded);
                const coded = await evaluate(llama, fx.coded, useMmap);
                const ref = await evaluate(llama, fx.reference, useMmap);
                let maxDiff = 0;
                let maxAbs = 0;
                for (let i = 0; i < ref.logits.length; i++)
                    for (let t = 0; t < ref.logits[i]!.length; t++) {
                        maxDiff = Math.max(maxDiff, Math.abs(coded.logits[i]![t]! - ref.logits[i]![t]!));
                        maxAbs = Math.max(maxAbs, Math.abs(ref.logits[i]![t]!));
                    }
                const tol = coded.layoutWeights > 0 ? LOGIT_TOL_LAYOUT : LOGIT_TOL_RANS;
                console.log(
                    `${v.name} (${fx.bitsPerWeight.toFixed(2)} bits/weight, ${useMmap ? "mmap" : "no mmap"}): ` +
                        `max |logit diff| ${maxDiff.toExponential(2)} over ${ref.logits.length} positions (max |logit| ${maxAbs.toFixed(2)}, bound ${tol}); ` +
                        `${coded.layoutLine || "no CPU layout"}; greedy: ${JSON.stringify(coded.text)}`
                );
                if (v.name === "5m-fp8-2.5bit") expect(coded.layoutWeights).toBe(44); // the real model: all on the CPU layout
                expect(maxAbs).toBeGreaterThan(1);
                expect(maxDiff).toBeLessThan(tol);
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

    it.skipIf(model5m.missing)(`refuses a damaged payload at load on the CPU layout (the repack checks every stream), naming the tensor ${model5m.missing ?? ""}`, async () => {
        const fx = fixtures.get("5m-fp8-2.5bit")!;
        const reader = await readGguf(fx.coded);
        const t = reader.tensor("blk.3.ffn_up.weight")!;
        await reader.close();
        const bad = join(dir, "bad-payload.gguf");
        copyFileSync(fx.coded, bad);
        const fd = openSync(bad, "r+");
        const at = t.fileOffset + t.byteSize - 100; // inside the last segment's words
        const byte = Buffer.alloc(1);
        const rfd = openSync(fx.coded, "r");
        readSync(rfd, byte, 0, 1, at);
        closeSync(rfd);
        writeSync(fd, Buffer.from([byte[0]! ^ 0x10]), 0, 1, at);
        closeSync(fd);
        await expectRefused(bad, /blk\.3\.ffn_up\.weight.*checksum/);
    });
});
