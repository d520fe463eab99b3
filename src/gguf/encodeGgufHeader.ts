import type { GgufArray, GgufMetadata, GgufValue } from "./GgufFileInfo.js";
import { GgufValueType } from "./GgufValueType.js";
import { ggufValueSize, numericArrayBytes, numericArrayClass, type NumericArray } from "./numericArrays.js";

/** A tensor info as stored: shape, type and data offset (relative to the data section). */
export type EncodedTensorInfo = { readonly name: string; readonly dims: readonly number[]; readonly type: number; readonly offset: number };

/** A growing little-endian byte buffer. */
class ByteWriter {
    private buf = Buffer.allocUnsafe(4096);
    length = 0;

    private room(n: number): number {
        if (this.length + n > this.buf.length) {
            const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
            this.buf.copy(bigger, 0, 0, this.length);
            this.buf = bigger;
        }
        const at = this.length;
        this.length += n;
        return at;
    }

    // Every writer takes its position from room() first: room() may replace buf, so
    // `this.buf.writeX(v, this.room(n))` would write into the old buffer.
    u32(v: number): void {
        const at = this.room(4);
        this.buf.writeUInt32LE(v, at);
    }

    u64(v: number | bigint): void {
        const at = this.room(8);
        this.buf.writeBigUInt64LE(BigInt(v), at);
    }

    bytes(b: Uint8Array): void {
        const at = this.room(b.length);
        this.buf.set(b, at);
    }

    string(s: string): void {
        const n = Buffer.byteLength(s, "utf8");
        this.u64(n);
        const at = this.room(n);
        this.buf.write(s, at, n, "utf8");
    }

    result(): Buffer {
        return this.buf.subarray(0, this.length);
    }

    // Buffer's own writers range-check the value (ERR_OUT_OF_RANGE).
    scalar(type: GgufValueType, value: unknown): void {
        if (type === GgufValueType.STRING) return this.string(value as string);
        const size = ggufValueSize[type];
        if (size === undefined) throw new Error("unreachable: arrays and unknown types never get here");
        const at = this.room(size);
        const b = this.buf;
        switch (type) {
            case GgufValueType.UINT8: b.writeUInt8(value as number, at); break;
            case GgufValueType.INT8: b.writeInt8(value as number, at); break;
            case GgufValueType.UINT16: b.writeUInt16LE(value as number, at); break;
            case GgufValueType.INT16: b.writeInt16LE(value as number, at); break;
            case GgufValueType.UINT32: b.writeUInt32LE(value as number, at); break;
            case GgufValueType.INT32: b.writeInt32LE(value as number, at); break;
            case GgufValueType.FLOAT32: b.writeFloatLE(value as number, at); break;
            case GgufValueType.FLOAT64: b.writeDoubleLE(value as number, at); break;
            case GgufValueType.UINT64: b.writeBigUInt64LE(value as bigint, at); break;
            case GgufValueType.INT64: b.writeBigInt64LE(value as bigint, at); break;
            case GgufValueType.BOOL: b.writeUInt8(value ? 1 : 0, at); break;
        }
    }
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

// Every check here guards against a silent change: a value that would be written as something
// other than itself (a float in an integer type, a lone surrogate that UTF-8 turns into U+FFFD).
function checkScalar(type: GgufValueType, value: unknown, what: string): void {
    const fail = (expected: string) => {
        throw new RangeError(`${what} has type ${GgufValueType[type]} but its value ${String(value)} (${typeof value}) is not ${expected}`);
    };
    switch (type) {
        case GgufValueType.UINT8: case GgufValueType.INT8: case GgufValueType.UINT16:
        case GgufValueType.INT16: case GgufValueType.UINT32: case GgufValueType.INT32:
            if (!Number.isInteger(value)) fail("an integer");
            return; // Buffer's writers refuse out-of-range values
        case GgufValueType.FLOAT32: case GgufValueType.FLOAT64:
            if (typeof value !== "number") fail("a number");
            return;
        case GgufValueType.UINT64: case GgufValueType.INT64:
            if (typeof value !== "bigint") fail("a bigint");
            return;
        case GgufValueType.BOOL:
            if (typeof value !== "boolean") fail("a boolean");
            return;
        case GgufValueType.STRING:
            if (typeof value !== "string") fail("a string");
            if (loneSurrogate.test(value as string)) fail("well-formed UTF-16 (it has a lone surrogate)");
            return;
        default:
            throw new RangeError(`${what} has unknown GGUF value type ${String(type)}`);
    }
}

function encodeArray(w: ByteWriter, a: GgufArray, what: string): void {
    const itemType = a.itemType;
    if (!(itemType in GgufValueType)) throw new RangeError(`${what} has unknown item type ${String(itemType)}`);
    w.u32(itemType);
    const cls = numericArrayClass[itemType];
    if (cls) {
        if (!(a.items instanceof cls)) throw new RangeError(`${what} has item type ${GgufValueType[itemType]} but its items are not a ${cls.name}`);
        w.u64(a.items.length);
        w.bytes(numericArrayBytes(a.items as NumericArray));
        return;
    }
    if (!Array.isArray(a.items)) throw new RangeError(`${what} has item type ${GgufValueType[itemType]} but its items are not an array`);
    w.u64(a.items.length);
    if (itemType === GgufValueType.ARRAY) {
        const items = a.items as readonly GgufArray[];
        for (let i = 0; i < items.length; i++) {
            if (items[i]?.type !== GgufValueType.ARRAY) throw new RangeError(`${what}[${i}] is not an array value`);
            encodeArray(w, items[i]!, `${what}[${i}]`);
        }
        return;
    }
    for (let i = 0; i < a.items.length; i++) {
        checkScalar(itemType, a.items[i], `${what}[${i}]`);
        w.scalar(itemType, a.items[i]);
    }
}

function encodeValue(w: ByteWriter, v: GgufValue, what: string): void {
    if (v === null || typeof v !== "object") throw new RangeError(`${what} is not a GGUF value ({ type, value } or { type, itemType, items })`);
    if (v.type === GgufValueType.ARRAY) {
        w.u32(v.type);
        encodeArray(w, v, what);
        return;
    }
    checkScalar(v.type, v.value, what);
    w.u32(v.type);
    w.scalar(v.type, v.value);
}

/**
 * The bytes of a GGUF header (magic, version, counts, metadata in map order, tensor infos), without
 * the padding that aligns the data section. Throws a RangeError naming the metadata key whose value
 * does not fit its declared type. Its length depends only on the metadata and on the tensors' names
 * and dimension counts, never on dimension or offset values (all u64).
 */
export function encodeGgufHeader(version: 2 | 3, metadata: GgufMetadata, tensors: readonly EncodedTensorInfo[]): Buffer {
    const w = new ByteWriter();
    w.bytes(Buffer.from("GGUF", "latin1"));
    w.u32(version);
    w.u64(tensors.length);
    w.u64(metadata.size);
    for (const [key, value] of metadata) {
        if (typeof key !== "string" || key.length === 0) throw new RangeError(`metadata key ${JSON.stringify(key)} is not a non-empty string`);
        checkScalar(GgufValueType.STRING, key, `metadata key "${key}"`);
        w.string(key);
        try {
            encodeValue(w, value, `metadata value "${key}"`);
        } catch (e) {
            // Buffer's writers say "The value of "value" is out of range"; name the key instead.
            if ((e as { code?: string }).code === "ERR_OUT_OF_RANGE")
                throw new RangeError(`metadata value "${key}" is out of range for its type: ${(e as Error).message}`);
            throw e;
        }
    }
    for (const t of tensors) {
        w.string(t.name);
        w.u32(t.dims.length);
        for (const d of t.dims) w.u64(d);
        w.u32(t.type);
        w.u64(t.offset);
    }
    return w.result();
}
