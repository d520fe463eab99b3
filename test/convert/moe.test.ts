// Mixture-of-experts conversion: the 3-D expert stacks ffn_{gate,up,down}_exps [K, N, E] are coded by default as one
// stream each (E experts' rows, segments inside experts), the router (ffn_gate_inp) and everything else kept; the
// model-wide lambda covers the experts; inspect reports per-expert bits; the dequantised twin keeps [K, N, E].
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { makeSyntheticModel, type SyntheticModelShape } from "../../src/bench/makeSyntheticModel.js";
import { convertModel, type ConvertSummary } from "../../src/convert/convertModel.js";
import { dequantizeModel } from "../../src/convert/dequantizeModel.js";
import { selectTensors } from "../../src/convert/selectTensors.js";
import { ENTQ_GGML_TYPE, GgmlType } from "../../src/gguf/ggmlTypes.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { readWeights } from "../../src/convert/readWeights.js";
import { inspectModel } from "../../src/inspect/inspectModel.js";
import { getNativeBinding } from "../../src/native/binding.js";

const SHAPE: SyntheticModelShape = { layers: 2, dim: 128, ffn: 96, heads: 4, kvHeads: 2, vocab: 300, type: "f16", seed: 3, experts: 4, expertsUsed: 2 };
const dir = mkdtempSync(join(tmpdir(), "entgguf-moe-"));
const source = join(dir, "moe.gguf");
const coded = join(dir, "moe.entq.gguf");
const twin = join(dir, "moe.dequantized.gguf");
let summary: ConvertSummary;

beforeAll(async () => {
    await makeSyntheticModel(source, SHAPE);
    summary = await convertModel(source, coded, { bits: 3, segmentSymbols: 4096, progress: false });
    await dequantizeModel(coded, twin);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("mixture-of-experts conversion", () => {
    it("selects expert stacks by default; routers, shared experts and 4-D tensors are kept", () => {
        const c = (name: string, dims: number[]) => selectTensors([{ name, dims, readable: true }])[0]!;
        expect(c("blk.0.ffn_up_exps.weight", [128, 96, 8]).code).toBe(true);
        expect(c("blk.0.ffn_gate_up_exps.weight", [128, 192, 8]).code).toBe(true);
        expect(c("blk.0.ffn_gate_inp.weight", [128, 8]).code).toBe(false);
        expect(c("blk.0.ffn_up_shexp.weight", [128, 96]).code).toBe(false);
        expect(selectTensors([{ name: "blk.0.ffn_up_shexp.weight", dims: [128, 96], readable: true }], { include: ["blk.*.ffn_*_shexp.weight"] })[0]!.code).toBe(true);
        expect(c("blk.0.ffn_up_exps.weight", [128, 96, 8, 2]).reason).toMatch(/not a matrix or a stack/);
    });

    it("codes every expert stack as one stream of E experts, the router stays F32", async () => {
        const exps = summary.tensors.filter((t) => t.name.includes("_exps"));
        expect(exps).toHaveLength(3 * SHAPE.layers);
        for (const t of exps) expect(t.experts).toBe(4);
        const reader = await readGguf(coded);
        try {
            expect(reader.tensor("blk.0.ffn_gate_inp.weight")!.type).toBe(GgmlType.F32);
            for (const t of exps) {
                const stream = await reader.readTensorData(reader.tensor(t.name)!);
                const info = getNativeBinding().streamInfo(stream);
                const n = t.name.includes("down") ? SHAPE.dim : SHAPE.ffn;
                expect([info.K, info.N, info.experts]).toEqual([t.name.includes("down") ? SHAPE.ffn : SHAPE.dim, n * 4, 4]);
                expect(n % info.rowsPerSegment).toBe(0); // no segment spans two experts
                expect(info.segments).toBeGreaterThan(4); // several per expert: segmentSymbols 4096
            }
        } finally {
            await reader.close();
        }
        // one lambda for the whole model (experts included) met the target
        expect(summary.rateSearch).toBeDefined();
        expect(Math.abs(summary.bitsPerWeight - 3)).toBeLessThan(0.15);
    });

    it("inspect shows the stack's shape and each expert's bits, which add up to the stream less its shared header", async () => {
        const r = await inspectModel(coded);
        const t = r.tensors.find((x) => x.name === "blk.1.ffn_down_exps.weight")!;
        expect(t.entq!.experts).toBe(4);
        const per = t.entq!.expertBitsPerWeight!;
        expect(per).toHaveLength(4);
        const weightsPerExpert = SHAPE.ffn * SHAPE.dim;
        const expertBytes = per.reduce((a, b) => a + (b * weightsPerExpert) / 8, 0);
        expect(expertBytes).toBeLessThan(t.bytes);
        expect(t.bytes - expertBytes).toBeLessThan(400); // header, table, padding: a few hundred bytes
        for (const b of per) expect(Math.abs(b - t.entq!.bitsPerWeight)).toBeLessThan(0.5);
    });

    it("the dequantised twin keeps [K, N, E] and each expert's values close to the source's", async () => {
        const src = await readGguf(source);
        const ref = await readGguf(twin);
        try {
            const name = "blk.0.ffn_up_exps.weight";
            expect(ref.tensor(name)!.dims).toEqual([SHAPE.dim, SHAPE.ffn, 4]);
            expect(ref.tensor(name)!.type).toBe(GgmlType.F32);
            const a = await readWeights(src, src.tensor(name)!);
            const b = await readWeights(ref, ref.tensor(name)!);
            const per = SHAPE.dim * SHAPE.ffn;
            for (let e = 0; e < 4; e++) {
                let err = 0, norm = 0;
                for (let i = e * per; i < (e + 1) * per; i++) {
                    err += (a[i]! - b[i]!) ** 2;
                    norm += a[i]! ** 2;
                }
                expect(Math.sqrt(err / norm)).toBeLessThan(0.2); // ~3 bits/weight: each expert, not only on average
            }
        } finally {
            await src.close();
            await ref.close();
        }
        expect((await readGguf(coded).then(async (r) => { const t = r.tensor("blk.0.ffn_up_exps.weight")!.type; await r.close(); return t; }))).toBe(ENTQ_GGML_TYPE);
    });

    it("the encoder refuses experts that do not divide the rows", async () => {
        const codes = new Uint8Array(10 * 9);
        await expect(getNativeBinding().encode(codes, 10, 9, { codeKind: 1, scaleBase: 1, rowScales: new Uint16Array(9).fill(0x3c00), experts: 4 })).rejects.toThrow(/argument/);
    });
});
