import { describe, expect, it } from "vitest";

import { describeTensors } from "../../src/gguf/describeTensors.js";
import type { GgufFileInfo } from "../../src/gguf/GgufFileInfo.js";
import { ggufValueToJson } from "../../src/gguf/ggufValueToJson.js";
import { GgufValueType } from "../../src/gguf/GgufValueType.js";
import { ENTQ_GGML_TYPE, GgmlType } from "../../src/gguf/ggmlTypes.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { sharedFile } from "../helpers/sharedData.js";

describe("inspect helpers", () => {
    const model = sharedFile("models/stories260K.gguf");

    it.skipIf(model.missing)(`describeTensors lists stories260K's tensors with shapes, type names and sizes ${model.missing ?? ""}`, async () => {
        const reader = await readGguf(model.path);
        try {
            const rows = describeTensors(reader.info);
            expect(rows).toHaveLength(48);
            expect(rows[0]).toEqual({ name: "token_embd.weight", shape: [64, 512], type: GgmlType.F32, typeName: "f32", byteSize: 64 * 512 * 4, fileOffset: 14176 });
            expect(rows.find((r) => r.name === "blk.0.ffn_up.weight")).toMatchObject({ shape: [64, 172], typeName: "f32", byteSize: 64 * 172 * 4 });
            expect(rows.reduce((s, r) => s + r.byteSize, 0)).toBe(reader.info.fileSize - reader.info.dataOffset);
        } finally {
            await reader.close();
        }
    });

    it("describeTensors names entq tensors", () => {
        const info: GgufFileInfo = {
            version: 3, metadata: new Map(), alignment: 32, dataOffset: 64, fileSize: 1064,
            tensors: [{ name: "blk.0.attn_q.weight", type: ENTQ_GGML_TYPE, dims: [1000], offset: 0, fileOffset: 64, byteSize: 1000 }]
        };
        expect(describeTensors(info)[0]).toMatchObject({ typeName: "entq", shape: [1000], byteSize: 1000 });
    });

    it("ggufValueToJson keeps 64-bit integers exact and spells non-finite floats", () => {
        expect(ggufValueToJson({ type: GgufValueType.UINT64, value: 2n ** 64n - 1n })).toBe("18446744073709551615");
        expect(ggufValueToJson({ type: GgufValueType.FLOAT32, value: NaN })).toBe("NaN");
        expect(ggufValueToJson({ type: GgufValueType.STRING, value: "llama" })).toBe("llama");
        expect(ggufValueToJson({ type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT64, items: Float64Array.of(1.5, -Infinity) })).toEqual([1.5, "-Infinity"]);
        expect(ggufValueToJson({
            type: GgufValueType.ARRAY, itemType: GgufValueType.ARRAY,
            items: [{ type: GgufValueType.ARRAY, itemType: GgufValueType.INT64, items: BigInt64Array.of(-5n) }]
        })).toEqual([["-5"]]);
        expect(JSON.stringify(ggufValueToJson({ type: GgufValueType.ARRAY, itemType: GgufValueType.BOOL, items: [true, false] }))).toBe("[true,false]");
    });
});
