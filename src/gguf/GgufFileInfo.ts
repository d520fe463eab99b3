import type { GgufValueType } from "./GgufValueType.js";

type NumberType =
    | GgufValueType.UINT8 | GgufValueType.INT8 | GgufValueType.UINT16 | GgufValueType.INT16
    | GgufValueType.UINT32 | GgufValueType.INT32 | GgufValueType.FLOAT32 | GgufValueType.FLOAT64;

/** One metadata value, with its exact GGUF type so that it is written back in the same bytes. */
export type GgufScalar =
    | { readonly type: NumberType; readonly value: number }
    | { readonly type: GgufValueType.UINT64 | GgufValueType.INT64; readonly value: bigint }
    | { readonly type: GgufValueType.BOOL; readonly value: boolean }
    | { readonly type: GgufValueType.STRING; readonly value: string };

/**
 * A metadata array. Numeric items are typed arrays (compact for 100k-entry vocabularies, and
 * bit-exact: a float NaN payload survives a round trip); arrays may nest.
 */
export type GgufArray =
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.UINT8; readonly items: Uint8Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.INT8; readonly items: Int8Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.UINT16; readonly items: Uint16Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.INT16; readonly items: Int16Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.UINT32; readonly items: Uint32Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.INT32; readonly items: Int32Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.FLOAT32; readonly items: Float32Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.UINT64; readonly items: BigUint64Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.INT64; readonly items: BigInt64Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.FLOAT64; readonly items: Float64Array }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.BOOL; readonly items: readonly boolean[] }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.STRING; readonly items: readonly string[] }
    | { readonly type: GgufValueType.ARRAY; readonly itemType: GgufValueType.ARRAY; readonly items: readonly GgufArray[] };

export type GgufValue = GgufScalar | GgufArray;

/** Metadata in file order (a Map keeps insertion order; GGUF keys are unique). */
export type GgufMetadata = ReadonlyMap<string, GgufValue>;

/** A tensor as the writer needs it: its data follows in this order. */
export type GgufTensorSpec = {
    readonly name: string;
    /** ggml type id (see ggmlTypes) */
    readonly type: number;
    /**
     * ne[0], ne[1], ... (ne[0] is the contiguous one), at most 4. Omitted: a 1-D tensor of a byte
     * type (block 1, size 1, e.g. ENTQ_GGML_TYPE) whose length is the number of bytes its data source gives.
     */
    readonly dims?: readonly number[];
};

/** A tensor as read from a file. */
export type GgufTensorInfo = {
    readonly name: string;
    readonly type: number;
    readonly dims: readonly number[];
    /** offset of its data from the start of the data section, as stored */
    readonly offset: number;
    /** absolute position of its data in the file */
    readonly fileOffset: number;
    readonly byteSize: number;
};

/** Everything in a GGUF file except the tensor data. */
export type GgufFileInfo = {
    readonly version: 2 | 3;
    readonly metadata: GgufMetadata;
    readonly tensors: readonly GgufTensorInfo[];
    /** general.alignment, or GGUF's default 32 */
    readonly alignment: number;
    /** absolute position of the data section (the end of the tensor infos, aligned) */
    readonly dataOffset: number;
    readonly fileSize: number;
};
