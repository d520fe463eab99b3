import { getLlama, LlamaLogLevel, type Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ENTQ_GGML_TYPE, GgmlType, ggmlTypes } from "../../src/gguf/ggmlTypes.js";
import { tensorByteSize } from "../../src/gguf/tensorByteSize.js";

// node-llama-cpp's stock prebuilt binary is built from the same llama.cpp release (v0.5.0) as the
// source it bundles: its ggml type traits are the reference for our table. Its bindings are
// internal API (llama._bindings), used here only to cross-check.
type TypeTraits = { getBlockSizeForGgmlType(id: number): number | undefined; getTypeSizeForGgmlType(id: number): number | undefined };

let llama: Llama | undefined;
let whyNoLlama = "";
beforeAll(async () => {
    llama = await getLlama({ build: "never", gpu: false, logLevel: LlamaLogLevel.error }).catch((e: unknown) => {
        whyNoLlama = (e as Error).message;
        return undefined;
    });
});
afterAll(async () => {
    await llama?.dispose();
});

describe("ggml type table", () => {
    it("matches the block and type sizes of ggml in node-llama-cpp's prebuilt llama.cpp, for every id it knows", (ctx) => {
        if (!llama) ctx.skip(`skipped: no prebuilt node-llama-cpp binary loads here (${whyNoLlama})`);
        const traits = (llama as unknown as { _bindings: TypeTraits })._bindings;
        const GGML_TYPE_COUNT = 43; // v0.5.0; ids at or above it are unknown to ggml
        for (let id = 0; id < GGML_TYPE_COUNT + 2; id++) {
            const blockSize = traits.getBlockSizeForGgmlType(id) ?? 0;
            const typeSize = traits.getTypeSizeForGgmlType(id) ?? 0;
            const ours = ggmlTypes.get(id);
            // ids ggml removed report block size 0; gguf refuses them, and so do we
            expect(ours ? [ours.blockSize, ours.typeSize] : [0, 0], `type id ${id}`).toEqual([blockSize, typeSize]);
        }
    });

    it("has entq as a 1-D byte type above ggml's ids, and readable names", () => {
        expect(ENTQ_GGML_TYPE).toBe(100);
        expect(ggmlTypes.get(ENTQ_GGML_TYPE)).toEqual({ id: 100, name: "entq", blockSize: 1, typeSize: 1 });
        expect([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.ENTQ]).toEqual([0, 1, 30, 8, 12, 100]);
        expect(new Set([...ggmlTypes.values()].map((t) => t.name)).size).toBe(ggmlTypes.size);
    });

    it("sizes tensors as ggml_nbytes does, and says what is wrong with a bad shape", () => {
        expect(tensorByteSize(ggmlTypes.get(GgmlType.F32)!, [64, 172])).toBe(64 * 172 * 4);
        expect(tensorByteSize(ggmlTypes.get(GgmlType.Q8_0)!, [64, 3])).toBe(2 * 34 * 3);
        expect(tensorByteSize(ggmlTypes.get(GgmlType.Q4_K)!, [4096, 4096])).toBe(16 * 144 * 4096);
        expect(tensorByteSize(ggmlTypes.get(GgmlType.ENTQ)!, [12345])).toBe(12345);
        expect(tensorByteSize(ggmlTypes.get(GgmlType.F16)!, [])).toBe(2); // a scalar
        expect(tensorByteSize(ggmlTypes.get(GgmlType.F16)!, [7, 0])).toBe(0);
        // > 4 GiB stays exact
        expect(tensorByteSize(ggmlTypes.get(GgmlType.F32)!, [128256, 4096, 3])).toBe(128256 * 4096 * 3 * 4);
        expect(() => tensorByteSize(ggmlTypes.get(GgmlType.Q6_K)!, [100])).toThrow("has ne[0] = 100, not a multiple of q6_K's block size 256");
        expect(() => tensorByteSize(ggmlTypes.get(GgmlType.F32)!, [2 ** 30, 2 ** 30, 2 ** 30])).toThrow("more than 2^53 elements");
    });
});
