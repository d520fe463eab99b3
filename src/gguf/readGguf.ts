// Our own parser rather than node-llama-cpp's readGgufFileInfo: that one folds keys into a nested
// object and reads values as plain JS numbers, losing key order, array item types and the exact
// value type (u32 vs i32, f32 vs f64) that a byte-identical rewrite needs. Tests cross-check the
// two on the same files.
import fs from "node:fs/promises";

import type { GgufArray, GgufFileInfo, GgufTensorInfo, GgufValue } from "./GgufFileInfo.js";
import { GgufFormatError } from "./GgufFormatError.js";
import { GgufReader } from "./GgufReader.js";
import { GgufValueType } from "./GgufValueType.js";
import { ggmlTypes } from "./ggmlTypes.js";
import { ggufAlignment } from "./ggufAlignment.js";
import { ggufValueSize, numericArrayFromBytes } from "./numericArrays.js";
import { GGML_MAX_DIMS, tensorByteSize } from "./tensorByteSize.js";

/** Nesting depth of metadata arrays beyond which a file is refused (real files do not nest at all). */
const MAX_ARRAY_NESTING = 16;
// The header is read in chunks of this size, so a huge vocabulary does not cost one read per string.
const HEADER_CHUNK_BYTES = 1 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Sequential little-endian reads of the header through a chunk buffer; every read is bounds-checked against the file size. */
class HeaderCursor {
    pos = 0;
    private buf = Buffer.alloc(0);
    private bufStart = 0;

    constructor(private readonly fh: fs.FileHandle, readonly file: string, readonly fileSize: number) {}

    get remaining(): number {
        return this.fileSize - this.pos;
    }

    truncated(what: string, bytes: number): GgufFormatError {
        return new GgufFormatError("TRUNCATED", this.file,
            `truncated: ${what} at byte ${this.pos} needs ${bytes} bytes but the file ends at byte ${this.fileSize}`);
    }

    /** Makes the next n bytes available in buf (offset returned), or throws TRUNCATED naming what was being read. */
    async take(n: number, what: string): Promise<number> {
        if (n > this.remaining) throw this.truncated(what, n);
        if (this.pos < this.bufStart || this.pos + n > this.bufStart + this.buf.length) {
            const len = Math.min(Math.max(n, HEADER_CHUNK_BYTES), this.remaining);
            const buf = Buffer.allocUnsafe(len);
            let got = 0;
            while (got < len) {
                const { bytesRead } = await this.fh.read(buf, got, len - got, this.pos + got);
                if (bytesRead === 0) throw this.truncated(what, n); // the file shrank while being read
                got += bytesRead;
            }
            this.buf = buf;
            this.bufStart = this.pos;
        }
        const at = this.pos - this.bufStart;
        this.pos += n;
        return at;
    }

    async bytes(n: number, what: string): Promise<Buffer> {
        const at = await this.take(n, what);
        return this.buf.subarray(at, at + n);
    }

    // take() first: it may replace buf, and `this.buf.readX(await this.take(n))` would read the old one.
    async u32(what: string): Promise<number> {
        const at = await this.take(4, what);
        return this.buf.readUInt32LE(at);
    }

    async u64(what: string): Promise<bigint> {
        const at = await this.take(8, what);
        return this.buf.readBigUInt64LE(at);
    }

    /** A u64 that must be a safe JS integer (a count, dimension or offset). */
    async u64Number(what: string, code: "BAD_METADATA" | "BAD_TENSOR_INFO" | "TRUNCATED"): Promise<number> {
        const v = await this.u64(what);
        if (v > BigInt(Number.MAX_SAFE_INTEGER))
            throw new GgufFormatError(code, this.file, `${what} at byte ${this.pos - 8} is ${v}, beyond 2^53`);
        return Number(v);
    }

    async string(what: string): Promise<string> {
        const len = await this.u64Number(`length of ${what}`, "TRUNCATED");
        const start = this.pos;
        const raw = await this.bytes(len, what);
        try {
            return utf8.decode(raw);
        } catch {
            throw new GgufFormatError("BAD_METADATA", this.file, `${what} at byte ${start} is not valid UTF-8`);
        }
    }
}

function badMetadata(c: HeaderCursor, problem: string): GgufFormatError {
    return new GgufFormatError("BAD_METADATA", c.file, problem);
}

async function readScalar(c: HeaderCursor, type: GgufValueType, what: string): Promise<GgufValue> {
    if (type === GgufValueType.STRING) return { type, value: await c.string(what) };
    const buf = await c.bytes(ggufValueSize[type]!, what);
    switch (type) {
        case GgufValueType.UINT8: return { type, value: buf.readUInt8(0) };
        case GgufValueType.INT8: return { type, value: buf.readInt8(0) };
        case GgufValueType.UINT16: return { type, value: buf.readUInt16LE(0) };
        case GgufValueType.INT16: return { type, value: buf.readInt16LE(0) };
        case GgufValueType.UINT32: return { type, value: buf.readUInt32LE(0) };
        case GgufValueType.INT32: return { type, value: buf.readInt32LE(0) };
        case GgufValueType.FLOAT32: return { type, value: buf.readFloatLE(0) };
        case GgufValueType.FLOAT64: return { type, value: buf.readDoubleLE(0) };
        case GgufValueType.UINT64: return { type, value: buf.readBigUInt64LE(0) };
        case GgufValueType.INT64: return { type, value: buf.readBigInt64LE(0) };
        case GgufValueType.BOOL: return { type, value: readBool(c, buf.readUInt8(0), what) };
        default: throw new Error("unreachable: arrays and unknown types never get here");
    }
}

function readBool(c: HeaderCursor, byte: number, what: string): boolean {
    if (byte > 1) throw badMetadata(c, `${what} at byte ${c.pos - 1} is a bool of value ${byte} (GGUF allows 0 and 1)`);
    return byte === 1;
}

function checkValueType(c: HeaderCursor, type: number, what: string): GgufValueType {
    if (!(type in GgufValueType)) throw badMetadata(c, `${what} at byte ${c.pos - 4} has unknown GGUF value type ${type}`);
    return type;
}

async function readArray(c: HeaderCursor, what: string, depth: number): Promise<GgufArray> {
    if (depth > MAX_ARRAY_NESTING) throw badMetadata(c, `${what} nests arrays deeper than ${MAX_ARRAY_NESTING} levels`);
    const itemType = checkValueType(c, await c.u32(`item type of ${what}`), `${what}'s item type`);
    const count = await c.u64Number(`item count of ${what}`, "TRUNCATED");
    // Refuse counts the rest of the file cannot hold before allocating anything for them.
    const minItemBytes = ggufValueSize[itemType] ?? (itemType === GgufValueType.STRING ? 8 : 12);
    if (count * minItemBytes > c.remaining)
        throw c.truncated(`${what} (${count} items of type ${GgufValueType[itemType]})`, count * minItemBytes);
    const type = GgufValueType.ARRAY;
    switch (itemType) {
        case GgufValueType.STRING: {
            const items: string[] = new Array(count);
            for (let i = 0; i < count; i++) items[i] = await c.string(`${what}[${i}]`);
            return { type, itemType, items };
        }
        case GgufValueType.BOOL: {
            const raw = await c.bytes(count, what);
            const items: boolean[] = new Array(count);
            for (let i = 0; i < count; i++) {
                if (raw[i]! > 1) throw badMetadata(c, `${what}[${i}] is a bool of value ${raw[i]} (GGUF allows 0 and 1)`);
                items[i] = raw[i] === 1;
            }
            return { type, itemType, items };
        }
        case GgufValueType.ARRAY: {
            const items: GgufArray[] = new Array(count);
            for (let i = 0; i < count; i++) items[i] = await readArray(c, `${what}[${i}]`, depth + 1);
            return { type, itemType, items };
        }
        default: {
            const raw = await c.bytes(count * ggufValueSize[itemType]!, what);
            return { type, itemType, items: numericArrayFromBytes(itemType, raw) } as GgufArray;
        }
    }
}

async function readMetadata(c: HeaderCursor, count: number): Promise<Map<string, GgufValue>> {
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < count; i++) {
        const keyAt = c.pos;
        const key = await c.string(`metadata key #${i}`);
        if (key.length === 0) throw badMetadata(c, `metadata key #${i} at byte ${keyAt} is empty`);
        if (metadata.has(key)) throw badMetadata(c, `metadata key "${key}" appears twice (second at byte ${keyAt})`);
        const what = `metadata value "${key}"`;
        const type = checkValueType(c, await c.u32(`type of ${what}`), what);
        metadata.set(key, type === GgufValueType.ARRAY ? await readArray(c, what, 1) : await readScalar(c, type, what));
    }
    return metadata;
}

function alignmentOf(c: HeaderCursor, metadata: ReadonlyMap<string, GgufValue>): number {
    try {
        return ggufAlignment(metadata);
    } catch (e) {
        throw badMetadata(c, (e as Error).message);
    }
}

type RawTensorInfo = { name: string; dims: number[]; type: number; offset: number };

async function readTensorInfos(c: HeaderCursor, count: number): Promise<RawTensorInfo[]> {
    const infos: RawTensorInfo[] = [];
    const names = new Set<string>();
    for (let i = 0; i < count; i++) {
        const at = c.pos;
        const name = await c.string(`name of tensor #${i}`);
        if (names.has(name))
            throw new GgufFormatError("BAD_TENSOR_INFO", c.file, `tensor name "${name}" appears twice (second at byte ${at})`);
        names.add(name);
        const nDims = await c.u32(`dimension count of tensor "${name}"`);
        if (nDims > GGML_MAX_DIMS)
            throw new GgufFormatError("BAD_TENSOR_INFO", c.file, `tensor "${name}" has ${nDims} dimensions, more than ggml's ${GGML_MAX_DIMS}`);
        const dims: number[] = [];
        for (let d = 0; d < nDims; d++) dims.push(await c.u64Number(`dimension ${d} of tensor "${name}"`, "BAD_TENSOR_INFO"));
        const type = await c.u32(`type of tensor "${name}"`);
        const offset = await c.u64Number(`data offset of tensor "${name}"`, "TRUNCATED");
        infos.push({ name, dims, type, offset });
    }
    return infos;
}

/** Sizes every tensor and checks that its data lies aligned, inside the file, and apart from the others. */
function placeTensors(c: HeaderCursor, raw: RawTensorInfo[], alignment: number, dataOffset: number): GgufTensorInfo[] {
    const tensors = raw.map(({ name, dims, type, offset }): GgufTensorInfo => {
        const typeInfo = ggmlTypes.get(type);
        if (!typeInfo)
            throw new GgufFormatError("UNKNOWN_TENSOR_TYPE", c.file,
                `tensor "${name}" has ggml type ${type}, which is not a type of llama.cpp v0.5.0 nor entq (the types are listed in ggmlTypes)`);
        let byteSize: number;
        try {
            byteSize = tensorByteSize(typeInfo, dims);
        } catch (e) {
            throw new GgufFormatError("BAD_TENSOR_INFO", c.file, `tensor "${name}" ${(e as Error).message}`);
        }
        if (offset % alignment !== 0)
            throw new GgufFormatError("BAD_OFFSETS", c.file, `tensor "${name}" has data offset ${offset}, not a multiple of the alignment ${alignment}`);
        const fileOffset = dataOffset + offset;
        if (fileOffset + byteSize > c.fileSize)
            throw new GgufFormatError("TRUNCATED", c.file,
                `truncated or bad offset: tensor "${name}" (${byteSize} bytes at byte ${fileOffset}) ends past the end of the file at byte ${c.fileSize}`);
        return { name, type, dims, offset, fileOffset, byteSize };
    });
    const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < byOffset.length; i++) {
        const prev = byOffset[i - 1]!;
        const cur = byOffset[i]!;
        if (prev.offset + prev.byteSize > cur.offset)
            throw new GgufFormatError("BAD_OFFSETS", c.file,
                `tensor "${prev.name}" (data offset ${prev.offset}, ${prev.byteSize} bytes) overlaps tensor "${cur.name}" (data offset ${cur.offset})`);
    }
    return tensors;
}

async function readHeader(fh: fs.FileHandle, file: string, fileSize: number): Promise<GgufFileInfo> {
    const c = new HeaderCursor(fh, file, fileSize);
    if (fileSize < 4) throw new GgufFormatError("NOT_GGUF", file, `not a GGUF file: only ${fileSize} bytes, no room for the magic "GGUF"`);
    const magic = await c.bytes(4, "magic");
    if (magic.toString("latin1") !== "GGUF")
        throw new GgufFormatError("NOT_GGUF", file, `not a GGUF file: it starts with bytes ${magic.toString("hex")}, not the magic "GGUF"`);
    const version = await c.u32("version");
    if (version !== 2 && version !== 3) {
        const swapped = ((version & 0xff) << 24) | ((version & 0xff00) << 8) | ((version >>> 8) & 0xff00) | (version >>> 24);
        const why = swapped === 2 || swapped === 3 ? "a big-endian GGUF, which this reader does not support"
            : version === 1 ? "GGUF version 1, which llama.cpp no longer reads" : `GGUF version ${version}`;
        throw new GgufFormatError("UNSUPPORTED_VERSION", file, `unsupported: ${why} (this reader takes versions 2 and 3)`);
    }
    const tensorCount = await c.u64Number("tensor count", "TRUNCATED");
    const kvCount = await c.u64Number("metadata count", "TRUNCATED");
    // Smallest entries: a key of one byte with a one-byte value; a tensor with an empty name and no dimensions.
    if (kvCount * 14 + tensorCount * 24 > c.remaining)
        throw c.truncated(`metadata and tensor infos (${kvCount} entries, ${tensorCount} tensors)`, kvCount * 14 + tensorCount * 24);
    const metadata = await readMetadata(c, kvCount);
    const alignment = alignmentOf(c, metadata);
    const raw = await readTensorInfos(c, tensorCount);
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    if (tensorCount > 0 && dataOffset > fileSize)
        throw new GgufFormatError("TRUNCATED", file, `truncated: the data section would start at byte ${dataOffset}, past the end of the file at byte ${fileSize}`);
    const tensors = placeTensors(c, raw, alignment, dataOffset);
    return { version, metadata, tensors, alignment, dataOffset, fileSize };
}

/**
 * Opens a GGUF (version 2 or 3) and reads its header: metadata in file order with exact value
 * types, and the tensor infos, all checked against the file size. Tensor data stays on disk; read it
 * through the returned reader, one tensor or range at a time, and close the reader when done.
 * Throws GgufFormatError (naming the file and the problem) for anything malformed.
 */
export async function readGguf(file: string): Promise<GgufReader> {
    const fh = await fs.open(file, "r");
    try {
        const { size } = await fh.stat();
        return new GgufReader(file, fh, await readHeader(fh, file, size));
    } catch (e) {
        await fh.close();
        throw e;
    }
}
