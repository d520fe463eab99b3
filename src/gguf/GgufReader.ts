import { constants as bufferConstants } from "node:buffer";
import type fs from "node:fs/promises";

import type { GgufFileInfo, GgufTensorInfo } from "./GgufFileInfo.js";
import { GgufFormatError } from "./GgufFormatError.js";

/** Default size of the pieces readTensorChunks yields: large enough for full-speed I/O, small next to any model. */
const DEFAULT_CHUNK_BYTES = 16 << 20;

/** A tensor by name, or by one of this file's info objects (typed loosely so that generic model sources can pass theirs). */
export type TensorRef = { readonly name: string } | string;

/** A byte range inside one tensor's data. */
export type TensorByteRange = { readonly start?: number; readonly length?: number };

/**
 * An open GGUF: its header (info) in memory, tensor data read on demand by offset.
 * Made by readGguf; close() it when done.
 */
export class GgufReader {
    private readonly byName: ReadonlyMap<string, GgufTensorInfo>;

    /** Use readGguf, which parses and checks the header. */
    constructor(readonly file: string, private readonly fh: fs.FileHandle, readonly info: GgufFileInfo) {
        this.byName = new Map(info.tensors.map((t) => [t.name, t]));
    }

    /** The tensor of that name, or undefined. */
    tensor(name: string): GgufTensorInfo | undefined {
        return this.byName.get(name);
    }

    /** The file's own info for `tensor`; an info object from elsewhere (another file, a copy) is refused. */
    private resolve(tensor: TensorRef): GgufTensorInfo {
        const name = typeof tensor === "string" ? tensor : tensor.name;
        const t = this.byName.get(name);
        if (!t || (typeof tensor !== "string" && tensor !== t)) throw new RangeError(`${this.file}: no tensor "${name}" in this file`);
        return t;
    }

    /**
     * A tensor's data, or a range of it, in one Buffer (at most buffer.constants.MAX_LENGTH bytes;
     * use readTensorChunks for larger tensors or to stream).
     */
    async readTensorData(tensor: TensorRef, range: TensorByteRange = {}): Promise<Buffer> {
        const t = this.resolve(tensor);
        const start = range.start ?? 0;
        const length = range.length ?? t.byteSize - start;
        if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0 || start + length > t.byteSize)
            throw new RangeError(`${this.file}: range [${start}, +${length}) is outside tensor "${t.name}" (${t.byteSize} bytes)`);
        if (length > bufferConstants.MAX_LENGTH)
            throw new RangeError(`${this.file}: ${length} bytes of tensor "${t.name}" exceed one Buffer (${bufferConstants.MAX_LENGTH}); read it with readTensorChunks`);
        const buf = Buffer.allocUnsafe(length);
        await this.readTensorInto(t, buf, start);
        return buf;
    }

    /** Reads bytes [start, start + into.length) of a tensor's data into `into` (no allocation: the caller's buffer is reused). */
    async readTensorInto(tensor: TensorRef, into: Uint8Array, start = 0): Promise<void> {
        const t = this.resolve(tensor);
        const length = into.length;
        if (!Number.isSafeInteger(start) || start < 0 || start + length > t.byteSize)
            throw new RangeError(`${this.file}: range [${start}, +${length}) is outside tensor "${t.name}" (${t.byteSize} bytes)`);
        let got = 0;
        while (got < length) {
            // one read is capped at 2 GiB - 1 by Node
            const { bytesRead } = await this.fh.read(into, got, Math.min(length - got, 0x7fff0000), t.fileOffset + start + got);
            if (bytesRead === 0)
                throw new GgufFormatError("TRUNCATED", this.file,
                    `truncated: tensor "${t.name}" data ends at byte ${t.fileOffset + start + got}, before its end (the file shrank after it was opened)`);
            got += bytesRead;
        }
    }

    /** A tensor's data as consecutive Buffers of at most chunkBytes each: any size, bounded memory. */
    async *readTensorChunks(tensor: TensorRef, chunkBytes = DEFAULT_CHUNK_BYTES): AsyncGenerator<Buffer> {
        const t = this.resolve(tensor);
        if (!Number.isSafeInteger(chunkBytes) || chunkBytes <= 0 || chunkBytes > bufferConstants.MAX_LENGTH)
            throw new RangeError(`chunkBytes must be a positive integer up to ${bufferConstants.MAX_LENGTH}, not ${chunkBytes}`);
        for (let start = 0; start < t.byteSize; start += chunkBytes)
            yield await this.readTensorData(t, { start, length: Math.min(chunkBytes, t.byteSize - start) });
    }

    async close(): Promise<void> {
        await this.fh.close();
    }
}
