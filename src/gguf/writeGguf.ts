import fs from "node:fs/promises";
import path from "node:path";

import { encodeGgufHeader, type EncodedTensorInfo } from "./encodeGgufHeader.js";
import type { GgufFileInfo, GgufMetadata, GgufTensorInfo, GgufTensorSpec } from "./GgufFileInfo.js";
import { GgufWriteError } from "./GgufWriteError.js";
import { ggmlTypes, type GgmlTypeInfo } from "./ggmlTypes.js";
import { ggufAlignment } from "./ggufAlignment.js";
import { tensorByteSize } from "./tensorByteSize.js";
import { TempOutput } from "./TempOutput.js";

/** What a GGUF holds before its tensor data: metadata in order, and the tensors in data order. */
export type GgufWriteHeader = {
    /** 3 unless rewriting a version-2 file as it was (the two are laid out alike) */
    readonly version?: 2 | 3;
    readonly metadata: GgufMetadata;
    readonly tensors: readonly GgufTensorSpec[];
};

/** One tensor's bytes: whole, or as chunks (any sizes) for tensors too large to hold at once. */
export type GgufTensorData = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

/** Gives the data of tensor `index`; called once per tensor, in order, after the previous tensor is on disk. */
export type GgufTensorSource = (tensor: GgufTensorSpec, index: number) => GgufTensorData | Promise<GgufTensorData>;

export type WriteGgufOptions = {
    /**
     * Called once all data is written, with every tensor's final shape and offset; the metadata it
     * returns replaces header.metadata. It must encode to the same number of bytes (same keys,
     * types, string and array lengths), because the data already follows the header: declare
     * summary keys up front with placeholder numbers and fill them in here.
     */
    readonly finalizeMetadata?: (tensors: readonly GgufTensorInfo[]) => GgufMetadata | Promise<GgufMetadata>;
    /** Aborting stops the write between chunks; nothing is left behind. */
    readonly signal?: AbortSignal;
};

/** Longest tensor name llama.cpp accepts is GGML_MAX_NAME - 1 bytes. */
const GGML_MAX_NAME = 64;

type PlannedTensor = { spec: GgufTensorSpec; typeInfo: GgmlTypeInfo; dims?: readonly number[]; byteSize?: number };

function planTensors(file: string, tensors: readonly GgufTensorSpec[]): PlannedTensor[] {
    const names = new Set<string>();
    return tensors.map((spec, i) => {
        const fail = (problem: string) => new GgufWriteError("BAD_TENSOR", file, `tensor #${i} "${spec.name}" ${problem}`);
        if (typeof spec.name !== "string" || spec.name.length === 0) throw fail("has no name");
        if (Buffer.byteLength(spec.name, "utf8") >= GGML_MAX_NAME) throw fail(`has a name of ${Buffer.byteLength(spec.name, "utf8")} bytes; llama.cpp takes at most ${GGML_MAX_NAME - 1}`);
        if (names.has(spec.name)) throw fail("appears twice");
        names.add(spec.name);
        const typeInfo = ggmlTypes.get(spec.type);
        if (!typeInfo) throw fail(`has ggml type ${spec.type}, which is not in ggmlTypes`);
        if (spec.dims === undefined) {
            if (typeInfo.blockSize !== 1 || typeInfo.typeSize !== 1) throw fail(`has no dims, which only byte types allow, not ${typeInfo.name}`);
            return { spec, typeInfo };
        }
        try {
            return { spec, typeInfo, dims: [...spec.dims], byteSize: tensorByteSize(typeInfo, spec.dims) };
        } catch (e) {
            throw fail((e as Error).message);
        }
    });
}

function alignUp(n: number, alignment: number): number {
    return Math.ceil(n / alignment) * alignment;
}


function chunksOf(data: GgufTensorData): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
    return data instanceof Uint8Array ? [data] : data;
}

// Errors of the file system while writing, said plainly and naming the target (Node's own message names neither).
const IO_PROBLEMS: Readonly<Record<string, string>> = {
    ENOSPC: "no space left on the device",
    EDQUOT: "the disk quota is exceeded",
    EFBIG: "the file is too large for the file system",
    EROFS: "the file system is read-only",
    EIO: "an input/output error on the device",
    EACCES: "permission denied",
    EPERM: "operation not permitted"
};

/** A system error of our own writes becomes one GgufWriteError("IO") naming the target (errors reading the input pass through). */
function ioError(file: string, e: unknown): unknown {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (typeof code !== "string" || !(e as NodeJS.ErrnoException).syscall) return e;
    const problem = IO_PROBLEMS[code] ?? (e as Error).message;
    return new GgufWriteError("IO", file, `${problem} (${code}); nothing was written`);
}

/** Runs one write-side file operation, its system errors said as ioError does. */
async function io<T>(file: string, op: Promise<T>): Promise<T> {
    try {
        return await op;
    } catch (e) {
        throw ioError(file, e);
    }
}

/** Writes all of buf at position (a file write may take less than asked); errors name the target `file`. */
async function writeAt(file: string, fh: fs.FileHandle, buf: Uint8Array, position: number): Promise<void> {
    for (let done = 0; done < buf.length;) {
        const { bytesWritten } = await io(file, fh.write(buf, done, buf.length - done, position + done));
        done += bytesWritten;
    }
}

async function checkOutputPath(file: string): Promise<void> {
    const dir = path.dirname(file);
    const dirStat = await fs.stat(dir).catch(() => undefined);
    if (!dirStat?.isDirectory()) throw new GgufWriteError("OUTPUT_PATH", file, `the output directory ${dir} does not exist`);
    const fileStat = await fs.stat(file).catch(() => undefined);
    if (fileStat?.isDirectory()) throw new GgufWriteError("OUTPUT_PATH", file, "it is a directory");
}

/**
 * Writes a GGUF, pulling tensor data from `source` one tensor at a time (chunks of any size), so
 * memory stays bounded by the header and one chunk. Offsets and alignment padding are computed here.
 * The file is written under a temporary name in the target's directory (TempOutput) and renamed when
 * complete; on any failure (bad input, a throwing source, an abort, a full disk) the temporary file is
 * removed and nothing appears under the target name. Temp files that killed writers left for the same
 * target are removed first. Returns the written file's info, as readGguf would read it.
 */
export async function writeGguf(file: string, header: GgufWriteHeader, source: GgufTensorSource, options: WriteGgufOptions = {}): Promise<GgufFileInfo> {
    const version = header.version ?? 3;
    if (version !== 2 && version !== 3) throw new GgufWriteError("BAD_METADATA", file, `GGUF version ${String(version)} cannot be written (2 or 3)`);
    const alignmentOf = (metadata: GgufMetadata) => {
        try {
            return ggufAlignment(metadata);
        } catch (e) {
            throw new GgufWriteError("BAD_METADATA", file, (e as Error).message);
        }
    };
    const alignment = alignmentOf(header.metadata);
    const planned = planTensors(file, header.tensors);
    // With every size known the header is final now. Otherwise tensors without dims stand as 1-D of
    // length 0 and offsets as 0 until the data is written: the header's size does not depend on them.
    const allSized = planned.every((p) => p.byteSize !== undefined);
    let nextOffset = 0;
    const initialInfos = planned.map((p): EncodedTensorInfo => {
        const offset = allSized ? nextOffset : 0;
        if (allSized) nextOffset += alignUp(p.byteSize!, alignment);
        return { name: p.spec.name, type: p.spec.type, dims: p.dims ?? [0], offset };
    });
    const encode = (metadata: GgufMetadata, infos: readonly EncodedTensorInfo[]) => {
        try {
            return encodeGgufHeader(version, metadata, infos);
        } catch (e) {
            throw new GgufWriteError("BAD_METADATA", file, (e as Error).message);
        }
    };
    const headerBytes = encode(header.metadata, initialInfos);
    const dataOffset = alignUp(headerBytes.length, alignment);
    await checkOutputPath(file);
    options.signal?.throwIfAborted();

    await TempOutput.removeStale(file);
    const temp = await io(file, TempOutput.open(file));
    const fh = temp.handle;
    try {
        await writeAt(file, fh, headerBytes, 0);
        await writeAt(file, fh, Buffer.alloc(dataOffset - headerBytes.length), headerBytes.length);
        const tensors: GgufTensorInfo[] = [];
        let pos = dataOffset;
        for (let i = 0; i < planned.length; i++) {
            options.signal?.throwIfAborted();
            const { spec, typeInfo, byteSize } = planned[i]!;
            const dataFail = (problem: string) => new GgufWriteError("TENSOR_DATA", file, `tensor "${spec.name}": ${problem}`);
            let written = 0;
            for await (const chunk of chunksOf(await source(spec, i))) {
                options.signal?.throwIfAborted();
                if (!(chunk instanceof Uint8Array)) throw dataFail(`the data source gave a ${typeof chunk}, not bytes (Uint8Array)`);
                if (byteSize !== undefined && written + chunk.length > byteSize)
                    throw dataFail(`the data source gave more than the ${byteSize} bytes its shape [${spec.dims!.join(", ")}] of ${typeInfo.name} takes`);
                await writeAt(file, fh, chunk, pos + written);
                written += chunk.length;
            }
            if (byteSize !== undefined && written !== byteSize)
                throw dataFail(`the data source gave ${written} bytes, but its shape [${spec.dims!.join(", ")}] of ${typeInfo.name} takes ${byteSize}`);
            const padded = alignUp(written, alignment);
            await writeAt(file, fh, Buffer.alloc(padded - written), pos + written);
            tensors.push({ name: spec.name, type: spec.type, dims: planned[i]!.dims ?? [written], offset: pos - dataOffset, fileOffset: pos, byteSize: written });
            pos += padded;
        }
        let metadata = header.metadata;
        if (options.finalizeMetadata || !allSized) {
            if (options.finalizeMetadata) metadata = await options.finalizeMetadata(tensors);
            const finalHeader = encode(metadata, tensors);
            if (finalHeader.length !== headerBytes.length)
                throw new GgufWriteError("HEADER_CHANGED", file, `the final metadata encodes to ${finalHeader.length} header bytes, not the ${headerBytes.length} already written before the data`);
            if (alignmentOf(metadata) !== alignment) throw new GgufWriteError("HEADER_CHANGED", file, "the final metadata changes general.alignment");
            await writeAt(file, fh, finalHeader, 0);
        }
        await io(file, fh.datasync());
        await io(file, fh.close());
        await io(file, fs.rename(temp.path, file));
        temp.done();
        return { version, metadata, tensors, alignment, dataOffset, fileSize: pos };
    } catch (e) {
        await temp.discard();
        throw e;
    }
}
