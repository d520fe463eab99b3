// Where each field of a valid GGUF lies: the fuzz test (fuzzGguf.test.ts) aims its
// mutations at lengths, counts, types and offsets, and truncates at every boundary.
import { GgufValueType } from "../../src/gguf/GgufValueType.js";
import { ggufValueSize } from "../../src/gguf/numericArrays.js";

export type GgufFieldRole =
    | "version" | "tensorCount" | "kvCount" | "stringLength" | "valueType" | "itemType" | "arrayCount"
    | "dimCount" | "dim" | "tensorType" | "tensorOffset" | "alignmentValue";

export type GgufField = { at: number; size: 4 | 8; role: GgufFieldRole };
/** A string's bytes (a key or a tensor name): where duplicates are made. */
export type GgufName = { at: number; length: number; kind: "key" | "tensor" };

export type GgufFieldMapResult = {
    fields: GgufField[];
    names: GgufName[];
    /** offsets where one structure ends and the next begins, ascending */
    boundaries: number[];
    dataOffset: number;
    alignment: number;
    /** byte ranges [start, end) of tensor data, in tensor-info order */
    tensorData: { start: number; end: number; type: number }[];
};

/** Maps the fields of a valid GGUF (version 2 or 3, little-endian); throws on anything else. */
export function ggufFieldMap(bytes: Buffer, tensorSize: (type: number, dims: number[]) => number): GgufFieldMapResult {
    let pos = 0;
    const fields: GgufField[] = [];
    const names: GgufName[] = [];
    const boundaries = new Set<number>([0]);
    const u32 = (role?: GgufFieldRole) => {
        if (role) fields.push({ at: pos, size: 4, role });
        const v = bytes.readUInt32LE(pos);
        pos += 4;
        return v;
    };
    const u64 = (role?: GgufFieldRole) => {
        if (role) fields.push({ at: pos, size: 8, role });
        const v = Number(bytes.readBigUInt64LE(pos));
        pos += 8;
        return v;
    };
    const str = (kind?: GgufName["kind"]) => {
        const n = u64("stringLength");
        if (kind) names.push({ at: pos, length: n, kind });
        const s = bytes.toString("utf8", pos, pos + n);
        pos += n;
        return s;
    };
    const value = (type: number, key?: string): void => {
        if (type === GgufValueType.STRING) str();
        else if (type === GgufValueType.ARRAY) {
            const item = u32("itemType");
            const count = u64("arrayCount");
            for (let i = 0; i < count; i++) value(item);
        } else {
            if (key === "general.alignment") fields.push({ at: pos, size: 4, role: "alignmentValue" });
            pos += ggufValueSize[type as GgufValueType]!;
        }
    };

    if (bytes.toString("latin1", 0, 4) !== "GGUF") throw new Error("not a GGUF");
    pos = 4;
    u32("version");
    const nTensors = u64("tensorCount");
    const nKv = u64("kvCount");
    boundaries.add(pos);
    let alignment = 32;
    for (let i = 0; i < nKv; i++) {
        const key = str("key");
        const type = u32("valueType");
        if (key === "general.alignment") alignment = bytes.readUInt32LE(pos);
        value(type, key);
        boundaries.add(pos);
    }
    const infos: { type: number; dims: number[]; offset: number }[] = [];
    for (let i = 0; i < nTensors; i++) {
        str("tensor");
        const nDims = u32("dimCount");
        const dims = Array.from({ length: nDims }, () => u64("dim"));
        const type = u32("tensorType");
        const offset = u64("tensorOffset");
        infos.push({ type, dims, offset });
        boundaries.add(pos);
    }
    const dataOffset = Math.ceil(pos / alignment) * alignment;
    boundaries.add(dataOffset);
    const tensorData = infos.map(({ type, dims, offset }) => {
        const start = dataOffset + offset;
        const end = start + tensorSize(type, dims);
        boundaries.add(start);
        boundaries.add(end);
        return { start, end, type };
    });
    boundaries.add(bytes.length);
    return { fields, names, boundaries: [...boundaries].sort((a, b) => a - b), dataOffset, alignment, tensorData };
}
