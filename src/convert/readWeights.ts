// Reads one tensor's data as f32 weights, whatever its stored type (F32, F16,
// BF16, or Q8_0 dequantised), chunk by chunk so no more than the tensor and
// one chunk are in memory.
import { GgmlType } from "../gguf/ggmlTypes.js";
import type { ModelSource, SourceTensorInfo } from "./ModelSource.js";

/** The stored types the converter reads. */
export const READABLE_WEIGHT_TYPES: ReadonlySet<number> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0]);

const Q8_0_BLOCK = 32;
const Q8_0_BYTES = 34; // f16 scale + 32 int8

let f16Table: Float32Array | undefined;

/** All 65536 f16 values as f32: a table lookup beats bit twiddling in JS. */
function f16Values(): Float32Array {
    if (f16Table) return f16Table;
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
        const exp = (h >> 10) & 0x1f;
        const man = h & 0x3ff;
        const v = exp === 0 ? man * 2 ** -24 : exp === 0x1f ? (man ? NaN : Infinity) : (1 + man / 1024) * 2 ** (exp - 15);
        f16Table[h] = h & 0x8000 ? -v : v;
    }
    return f16Table;
}

/** u16 view of bytes (copying only when misaligned); little-endian hosts, as ggml assumes. */
function u16View(bytes: Uint8Array): Uint16Array {
    const n = bytes.length >> 1;
    if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    return new Uint16Array(bytes.slice(0, 2 * n).buffer);
}

/** Converts whole elements of `bytes` (stored type `type`) into out[at...]; returns elements written. */
function convertChunk(type: number, bytes: Uint8Array, out: Float32Array, at: number): number {
    if (type === GgmlType.F32) {
        const n = bytes.length >> 2;
        new Uint8Array(out.buffer, out.byteOffset + 4 * at, 4 * n).set(bytes.subarray(0, 4 * n));
        return n;
    }
    if (type === GgmlType.F16) {
        const h = u16View(bytes);
        const t = f16Values();
        for (let i = 0; i < h.length; i++) out[at + i] = t[h[i]!]!;
        return h.length;
    }
    if (type === GgmlType.BF16) {
        const h = u16View(bytes);
        const u = new Uint32Array(out.buffer, out.byteOffset + 4 * at, h.length);
        for (let i = 0; i < h.length; i++) u[i] = h[i]! << 16;
        return h.length;
    }
    // Q8_0: value = f16 d * int8 q, blocks of 32
    const t = f16Values();
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const blocks = Math.floor(bytes.length / Q8_0_BYTES);
    for (let b = 0; b < blocks; b++) {
        const d = t[view.getUint16(b * Q8_0_BYTES, true)]!;
        const o = at + b * Q8_0_BLOCK;
        const src = b * Q8_0_BYTES + 2;
        for (let j = 0; j < Q8_0_BLOCK; j++) out[o + j] = d * q[src + j]!;
    }
    return blocks * Q8_0_BLOCK;
}

function elementBytes(type: number): number {
    return type === GgmlType.F32 ? 4 : type === GgmlType.Q8_0 ? Q8_0_BYTES : 2;
}

/** The tensor as f32, row-major (ne[0] contiguous). */
export async function readWeights(reader: Pick<ModelSource, "file" | "readTensorChunks">, tensor: SourceTensorInfo): Promise<Float32Array> {
    if (!READABLE_WEIGHT_TYPES.has(tensor.type))
        throw new TypeError(`${reader.file}: tensor "${tensor.name}" has type ${tensor.type}, which cannot be read as weights (F32, F16, BF16, Q8_0 can)`);
    const count = tensor.dims.reduce((a, b) => a * b, 1);
    const out = new Float32Array(count);
    // chunks hold whole elements (whole blocks for Q8_0)
    const unit = elementBytes(tensor.type);
    const chunkBytes = Math.max(unit, Math.floor((16 << 20) / unit) * unit);
    let at = 0;
    for await (const chunk of reader.readTensorChunks(tensor, chunkBytes)) at += convertChunk(tensor.type, chunk, out, at);
    if (at !== count) throw new Error(`${reader.file}: tensor "${tensor.name}" gave ${at} of ${count} weights`);
    return out;
}
