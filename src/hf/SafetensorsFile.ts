// One .safetensors file: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}, then the
// data (offsets relative to the byte after the header). Only the header is held in
// memory; tensor bytes are read by offset, a chunk at a time.
//
// Written here rather than taken from npm: the `safetensors` package (0.0.1, its only
// version) is a browser helper that fetches a whole file into one Uint8Array (cached
// in IndexedDB) and checks no offsets: no streaming, no Node file access.
import { constants as bufferConstants } from "node:buffer";
import fs from "node:fs/promises";

import { HfInputError } from "./HfInputError.js";

/** Bytes per element of every dtype the format defines (so any header's byte counts can be checked). */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
    F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
    I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1
};

/** The format's own bound on the header (safetensors' MAX_HEADER_SIZE): a larger length is a corrupt file. */
const MAX_HEADER_BYTES = 100_000_000;
const DEFAULT_CHUNK_BYTES = 16 << 20;

export type SafetensorsTensor = {
    readonly name: string;
    readonly dtype: string;
    /** PyTorch order: shape[0] is the outermost (rows), the last is contiguous */
    readonly shape: readonly number[];
    /** absolute position of the data in the file */
    readonly fileOffset: number;
    readonly byteSize: number;
};

export class SafetensorsFile {
    private constructor(
        readonly file: string,
        private readonly fh: fs.FileHandle,
        readonly tensors: ReadonlyMap<string, SafetensorsTensor>
    ) {}

    /** Opens `file` and checks its header against the file: every tensor's bytes lie inside it, none overlap, sizes match shapes. */
    static async open(file: string): Promise<SafetensorsFile> {
        const fh = await fs.open(file, "r").catch((e: NodeJS.ErrnoException) => {
            throw new HfInputError("MISSING_FILE", file, e.code === "ENOENT" ? "no such file" : `cannot be opened (${e.code ?? e.message})`);
        });
        try {
            return new SafetensorsFile(file, fh, await readHeader(file, fh));
        } catch (e) {
            await fh.close();
            throw e;
        }
    }

    /** `length` bytes of a tensor's data from byte `start` of it. */
    async read(t: SafetensorsTensor, start = 0, length = t.byteSize - start): Promise<Buffer> {
        if (start < 0 || length < 0 || start + length > t.byteSize || length > bufferConstants.MAX_LENGTH)
            throw new RangeError(`${this.file}: range [${start}, +${length}) is outside tensor "${t.name}" (${t.byteSize} bytes)`);
        const buf = Buffer.allocUnsafe(length);
        for (let got = 0; got < length;) {
            const { bytesRead } = await this.fh.read(buf, got, length - got, t.fileOffset + start + got);
            if (bytesRead === 0) throw new HfInputError("BAD_SAFETENSORS", this.file, `tensor "${t.name}" ends early: the file shrank after it was opened`);
            got += bytesRead;
        }
        return buf;
    }

    /** A tensor's data as consecutive chunks of at most chunkBytes (rounded down to whole elements). */
    async *chunks(t: SafetensorsTensor, chunkBytes = DEFAULT_CHUNK_BYTES): AsyncGenerator<Buffer> {
        const unit = DTYPE_BYTES[t.dtype]!;
        const step = Math.max(unit, Math.floor(chunkBytes / unit) * unit);
        for (let start = 0; start < t.byteSize; start += step) yield await this.read(t, start, Math.min(step, t.byteSize - start));
    }

    async close(): Promise<void> {
        await this.fh.close();
    }
}

async function readHeader(file: string, fh: fs.FileHandle): Promise<Map<string, SafetensorsTensor>> {
    const bad = (problem: string) => new HfInputError("BAD_SAFETENSORS", file, problem);
    const { size } = await fh.stat();
    if (size < 8) throw bad(`${size} bytes: too short for a safetensors header`);
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(Math.min(size - 8, MAX_HEADER_BYTES)))
        throw bad(`the header claims ${headerLen} bytes, but the file has ${size - 8} after the length (and the format allows ${MAX_HEADER_BYTES})`);
    const n = Number(headerLen);
    const raw = Buffer.alloc(n);
    for (let got = 0; got < n;) {
        const { bytesRead } = await fh.read(raw, got, n - got, 8 + got);
        if (bytesRead === 0) throw bad("the file ends inside its header");
        got += bytesRead;
    }
    let json: unknown;
    try {
        json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
    } catch (e) {
        throw bad(`the header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw bad("the header is not a JSON object");

    const dataStart = 8 + n;
    const dataBytes = size - dataStart;
    const tensors = new Map<string, SafetensorsTensor>();
    const spans: { name: string; begin: number; end: number }[] = [];
    for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
        if (name === "__metadata__") continue;
        const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
        const where = `tensor "${name}"`;
        if (typeof e !== "object" || e === null) throw bad(`${where}: its header entry is not an object`);
        if (typeof e.dtype !== "string" || !(e.dtype in DTYPE_BYTES)) throw bad(`${where}: unknown dtype ${JSON.stringify(e.dtype)}`);
        const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
        if (!Array.isArray(e.shape) || !e.shape.every(isCount)) throw bad(`${where}: shape ${JSON.stringify(e.shape)} is not a list of sizes`);
        const offsets = e.data_offsets;
        if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1])
            throw bad(`${where}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with begin <= end`);
        const [begin, end] = offsets as [number, number];
        const elements = (e.shape as number[]).reduce((a, b) => a * b, 1);
        const expected = elements * DTYPE_BYTES[e.dtype]!;
        if (end - begin !== expected)
            throw bad(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but ${e.dtype} [${(e.shape as number[]).join(", ")}] takes ${expected}`);
        if (end > dataBytes)
            throw bad(`${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataBytes} bytes after the header)`);
        tensors.set(name, { name, dtype: e.dtype, shape: [...(e.shape as number[])], fileOffset: dataStart + begin, byteSize: expected });
        if (end > begin) spans.push({ name, begin, end });
    }
    spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
    for (let i = 1; i < spans.length; i++) {
        const [p, q] = [spans[i - 1]!, spans[i]!];
        if (q.begin < p.end) throw bad(`tensors "${p.name}" [${p.begin}, ${p.end}] and "${q.name}" [${q.begin}, ${q.end}] overlap`);
    }
    return tensors;
}
