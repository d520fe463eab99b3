// Seeded generators of GGUF contents for the gguf tests: metadata of every value type with edge
// values, and tensors of several ggml types with random bytes.
import type { GgufArray, GgufTensorSpec, GgufValue } from "../../src/gguf/GgufFileInfo.js";
import { GgufValueType } from "../../src/gguf/GgufValueType.js";
import { ENTQ_GGML_TYPE, GgmlType, ggmlTypes } from "../../src/gguf/ggmlTypes.js";
import { tensorByteSize } from "../../src/gguf/tensorByteSize.js";
import { SeededRandom } from "../helpers/seededRandom.js";

const stringPieces = ["a", "Z", " ", "0", ".", "é", "日本", "🦙", "\u0000", "\n", "<0x0A>", "▁the"];

function randomString(rng: SeededRandom, maxPieces = 12): string {
    let s = "";
    const n = rng.below(maxPieces + 1);
    for (let i = 0; i < n; i++) s += stringPieces[rng.below(stringPieces.length)];
    return s;
}

function randomBytes(rng: SeededRandom, n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 8) {
        let v = rng.next();
        for (let j = i; j < Math.min(n, i + 8); j++, v >>= 8n) out[j] = Number(v & 0xffn);
    }
    return out;
}

const u64Max = (1n << 64n) - 1n;
const i64Min = -(1n << 63n);
const i64Max = (1n << 63n) - 1n;

// Edge values first, then random ones: each call picks one of them.
function randomScalar(rng: SeededRandom, type: GgufValueType): GgufValue {
    const pick = <T>(edges: T[], random: () => T): T => (rng.below(3) === 0 ? edges[rng.below(edges.length)]! : random());
    switch (type) {
        case GgufValueType.UINT8: return { type, value: pick([0, 255], () => rng.below(256)) };
        case GgufValueType.INT8: return { type, value: pick([-128, 127, 0], () => rng.below(256) - 128) };
        case GgufValueType.UINT16: return { type, value: pick([0, 65535], () => rng.below(65536)) };
        case GgufValueType.INT16: return { type, value: pick([-32768, 32767], () => rng.below(65536) - 32768) };
        case GgufValueType.UINT32: return { type, value: pick([0, 0xffffffff], () => rng.below(2 ** 32)) };
        case GgufValueType.INT32: return { type, value: pick([-(2 ** 31), 2 ** 31 - 1], () => rng.below(2 ** 32) - 2 ** 31) };
        case GgufValueType.FLOAT32:
            return { type, value: pick([0, -0, Infinity, -Infinity, NaN, 2 ** -149, 3.4028234663852886e38], () => Math.fround(rng.laplace(100))) };
        case GgufValueType.FLOAT64:
            return { type, value: pick([-0, NaN, Number.MIN_VALUE, Number.MAX_VALUE, -Infinity], () => rng.laplace(1e6)) };
        case GgufValueType.UINT64: return { type, value: pick([0n, u64Max, 1n << 53n], () => rng.next()) };
        case GgufValueType.INT64: return { type, value: pick([i64Min, i64Max, -1n], () => BigInt.asIntN(64, rng.next())) };
        case GgufValueType.BOOL: return { type, value: rng.below(2) === 1 };
        case GgufValueType.STRING: return { type, value: pick(["", "general.name", "🦙".repeat(3)], () => randomString(rng)) };
        default: throw new Error(`not a scalar type: ${type}`);
    }
}

const numericItem = {
    [GgufValueType.UINT8]: Uint8Array, [GgufValueType.INT8]: Int8Array, [GgufValueType.UINT16]: Uint16Array,
    [GgufValueType.INT16]: Int16Array, [GgufValueType.UINT32]: Uint32Array, [GgufValueType.INT32]: Int32Array,
    [GgufValueType.FLOAT32]: Float32Array, [GgufValueType.UINT64]: BigUint64Array, [GgufValueType.INT64]: BigInt64Array,
    [GgufValueType.FLOAT64]: Float64Array
} as const;

export const scalarTypes = Object.values(GgufValueType).filter((t): t is GgufValueType => typeof t === "number" && t !== GgufValueType.ARRAY);

function randomArray(rng: SeededRandom, itemType: GgufValueType, depth: number): GgufArray {
    const type = GgufValueType.ARRAY;
    const count = rng.below(4) === 0 ? 0 : rng.below(40);
    if (itemType === GgufValueType.ARRAY) {
        const inner = scalarTypes[rng.below(scalarTypes.length)]!;
        const items = Array.from({ length: Math.min(count, 5) }, () =>
            randomArray(rng, depth < 3 && rng.below(2) ? GgufValueType.ARRAY : inner, depth + 1));
        return { type, itemType, items };
    }
    if (itemType === GgufValueType.STRING) return { type, itemType, items: Array.from({ length: count }, () => randomString(rng)) };
    if (itemType === GgufValueType.BOOL) return { type, itemType, items: Array.from({ length: count }, () => rng.below(2) === 1) };
    const cls = numericItem[itemType as keyof typeof numericItem];
    // random bits, so float arrays hold NaNs with payloads, denormals and infinities too
    const items = new cls(count);
    new Uint8Array(items.buffer).set(randomBytes(rng, items.byteLength));
    return { type, itemType, items } as GgufArray;
}

/** Metadata with every scalar type and an array of every item type (arrays nested up to 4 deep), keys in random order. */
export function randomMetadata(rng: SeededRandom, alignment?: number): Map<string, GgufValue> {
    const entries: [string, GgufValue][] = [];
    for (const t of scalarTypes) {
        for (let i = 0; i < 2; i++) entries.push([`test.scalar.${GgufValueType[t]}.${i}`, randomScalar(rng, t)]);
        entries.push([`test.array.${GgufValueType[t]}`, randomArray(rng, t, 1)]);
    }
    entries.push(["test.array.ARRAY", randomArray(rng, GgufValueType.ARRAY, 1)]);
    entries.push([`test.key.${randomString(rng, 4)}`, randomScalar(rng, GgufValueType.STRING)]);
    for (let i = entries.length - 1; i > 0; i--) {
        const j = rng.below(i + 1);
        [entries[i], entries[j]] = [entries[j]!, entries[i]!];
    }
    if (alignment !== undefined) entries.splice(rng.below(entries.length + 1), 0, ["general.alignment", { type: GgufValueType.UINT32, value: alignment }]);
    return new Map(entries);
}

export type SyntheticTensor = { spec: GgufTensorSpec; data: Uint8Array };

/** Tensors of float, quantised and entq types with random shapes and bytes; entq ones carry no dims (their length is their data's). */
export function randomTensors(rng: SeededRandom, count: number): SyntheticTensor[] {
    const kinds = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.I8, ENTQ_GGML_TYPE];
    return Array.from({ length: count }, (_, i): SyntheticTensor => {
        const type = kinds[rng.below(kinds.length)]!;
        const name = `blk.${i}.t${rng.below(1000)}.weight`;
        if (type === ENTQ_GGML_TYPE) {
            // byte counts around the alignment and odd ones, as real streams have
            const len = [0, 1, 31, 32, 33, 63, 1000 + rng.below(5000)][rng.below(7)]!;
            return { spec: { name, type }, data: randomBytes(rng, len) };
        }
        const block = ggmlTypes.get(type)!.blockSize;
        const nDims = 1 + rng.below(4);
        const dims = Array.from({ length: nDims }, (_, d) => (d === 0 ? block * (1 + rng.below(3)) : 1 + rng.below(3)));
        return { spec: { name, type, dims }, data: randomBytes(rng, tensorByteSize(ggmlTypes.get(type)!, dims)) };
    });
}
