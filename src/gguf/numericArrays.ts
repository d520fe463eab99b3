import { GgufValueType } from "./GgufValueType.js";

/** Bytes of each fixed-size GGUF value type (strings and arrays have no fixed size). */
export const ggufValueSize: Readonly<Partial<Record<GgufValueType, number>>> = {
    [GgufValueType.UINT8]: 1,
    [GgufValueType.INT8]: 1,
    [GgufValueType.UINT16]: 2,
    [GgufValueType.INT16]: 2,
    [GgufValueType.UINT32]: 4,
    [GgufValueType.INT32]: 4,
    [GgufValueType.FLOAT32]: 4,
    [GgufValueType.BOOL]: 1,
    [GgufValueType.UINT64]: 8,
    [GgufValueType.INT64]: 8,
    [GgufValueType.FLOAT64]: 8
};

export type NumericArray =
    | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array
    | Float32Array | BigUint64Array | BigInt64Array | Float64Array;

type NumericArrayClass = { new (buffer: ArrayBuffer, byteOffset: number, length: number): NumericArray; BYTES_PER_ELEMENT: number };

/** The typed array class that holds a numeric GGUF array's items (bool and string items are JS arrays). */
export const numericArrayClass: Readonly<Partial<Record<GgufValueType, NumericArrayClass>>> = {
    [GgufValueType.UINT8]: Uint8Array,
    [GgufValueType.INT8]: Int8Array,
    [GgufValueType.UINT16]: Uint16Array,
    [GgufValueType.INT16]: Int16Array,
    [GgufValueType.UINT32]: Uint32Array,
    [GgufValueType.INT32]: Int32Array,
    [GgufValueType.FLOAT32]: Float32Array,
    [GgufValueType.UINT64]: BigUint64Array,
    [GgufValueType.INT64]: BigInt64Array,
    [GgufValueType.FLOAT64]: Float64Array
};

// GGUF is little-endian; typed arrays use the host's order, so big-endian hosts swap on the way in and out.
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapInPlace(bytes: Uint8Array, itemSize: number): void {
    if (itemSize === 1) return;
    for (let i = 0; i < bytes.length; i += itemSize) bytes.subarray(i, i + itemSize).reverse();
}

/** Items of a numeric array from their little-endian bytes (copied, so the result owns aligned memory). */
export function numericArrayFromBytes(itemType: GgufValueType, bytes: Uint8Array): NumericArray {
    const cls = numericArrayClass[itemType];
    if (!cls) throw new TypeError(`GGUF type ${itemType} is not numeric`);
    const copy = new Uint8Array(bytes);
    if (!hostIsLittleEndian) swapInPlace(copy, cls.BYTES_PER_ELEMENT);
    return new cls(copy.buffer, 0, copy.length / cls.BYTES_PER_ELEMENT);
}

/** The little-endian bytes of a numeric array's items (a view where the host is little-endian). */
export function numericArrayBytes(items: NumericArray): Uint8Array {
    const view = new Uint8Array(items.buffer, items.byteOffset, items.byteLength);
    if (hostIsLittleEndian) return view;
    const copy = new Uint8Array(view);
    swapInPlace(copy, items.BYTES_PER_ELEMENT);
    return copy;
}
