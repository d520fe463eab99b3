// Bits/weight accounting: file bytes x 8 / elements over exactly the named linear weights, for ggml's
// block types (from their block and type sizes) and for ENTQ streams (elements from the stream header).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { bitsPerWeight, readWeightTensors } from "../../src/bench/bitsPerWeight.js";
import { ENTQ_GGML_TYPE, GgmlType } from "../../src/gguf/ggmlTypes.js";
import { writeGguf } from "../../src/gguf/writeGguf.js";
import { CodeKind } from "../../src/native/binding.js";
import { encodeStream } from "../../src/stream/encodeStream.js";
import { SeededRandom } from "../helpers/seededRandom.js";

const dir = mkdtempSync(join(tmpdir(), "entgguf-bpw-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bitsPerWeight", () => {
    it("sums bytes and elements of the named tensors only, and counts their types", () => {
        const s = bitsPerWeight(
            [
                { name: "blk.0.attn_q.weight", type: "q4_K", bytes: 144 * 4, elements: 256 * 4 },
                { name: "blk.0.ffn_down.weight", type: "q5_0", bytes: 22 * 2 * 3, elements: 64 * 3 },
                { name: "blk.0.attn_norm.weight", type: "f32", bytes: 256, elements: 64 },
                { name: "token_embd.weight", type: "q4_K", bytes: 1_000_000, elements: 1 }
            ],
            new Set(["blk.0.attn_q.weight", "blk.0.ffn_down.weight"])
        );
        expect(s).toEqual({ tensors: 2, bytes: 576 + 132, elements: 1024 + 192, bitsPerWeight: ((576 + 132) * 8) / 1216, types: { q4_K: 1, q5_0: 1 } });
    });

    it("refuses a name the model lacks (a missing tensor would skew the rate)", () => {
        expect(() => bitsPerWeight([{ name: "a", type: "f32", bytes: 4, elements: 1 }], new Set(["a", "blk.3.ffn_up.weight"]))).toThrow(/blk\.3\.ffn_up\.weight not in the model/);
    });

    it("reads block-type sizes from the GGUF and ENTQ element counts from the stream header", async () => {
        const rng = new SeededRandom(7);
        const K = 96, N = 40;
        const codes = new Uint8Array(K * N).map(() => rng.below(5));
        const enc = await encodeStream(codes, { K, N, codeKind: CodeKind.INT8, scaleBase: 1 / 64, rowScales: new Uint16Array(N).fill(0x3c00) });
        const bytes = (n: number) => new Uint8Array(n).map(() => rng.below(256));
        const file = join(dir, "mixed.gguf");
        const tensors = [
            { name: "blk.0.attn_q.weight", type: GgmlType.Q4_K, dims: [256, 4], data: bytes(144 * 4) },
            { name: "blk.0.ffn_down.weight", type: GgmlType.Q8_0, dims: [64, 3], data: bytes(34 * 2 * 3) },
            { name: "blk.0.attn_k.weight", type: ENTQ_GGML_TYPE, data: new Uint8Array(enc.stream) },
            { name: "blk.0.attn_norm.weight", type: GgmlType.F32, dims: [64], data: bytes(256) }
        ];
        await writeGguf(file, { metadata: new Map(), tensors: tensors.map(({ name, type, dims }) => ({ name, type, dims })) }, (_s, i) => tensors[i]!.data);
        const read = await readWeightTensors(file);
        expect(read.map((t) => [t.name, t.type, t.bytes, t.elements])).toEqual([
            ["blk.0.attn_q.weight", "q4_K", 576, 1024],
            ["blk.0.ffn_down.weight", "q8_0", 204, 192],
            ["blk.0.attn_k.weight", "entq", enc.stream.length, K * N],
            ["blk.0.attn_norm.weight", "f32", 256, 64]
        ]);
        const q8 = bitsPerWeight(read, new Set(["blk.0.ffn_down.weight"]));
        expect(q8.bitsPerWeight).toBe(8.5); // 34 bytes per 32 weights
        const entq = bitsPerWeight(read, new Set(["blk.0.attn_k.weight"]));
        expect(entq.bitsPerWeight).toBeCloseTo((enc.stream.length * 8) / (K * N), 12);
    });
});
