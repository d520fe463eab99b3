// What the converter reads a model from: metadata, tensor infos in file order,
// and each tensor's bytes on demand. A GGUF file (GgufReader) is one; a Hugging
// Face folder (openHfModel) is another, made to look like the GGUF that llama.cpp's
// own converter would write from it.
import { statSync } from "node:fs";

import type { GgufMetadata } from "../gguf/GgufFileInfo.js";
import { readGguf } from "../gguf/readGguf.js";
import { openHfModel } from "../hf/openHfModel.js";

/** A tensor as a source gives it: its GGUF name, ggml type, ne[] (ne[0] contiguous) and data size. */
export type SourceTensorInfo = {
    readonly name: string;
    readonly type: number;
    readonly dims: readonly number[];
    readonly byteSize: number;
};

export interface ModelSource {
    /** the path, for messages */
    readonly file: string;
    readonly info: {
        readonly version: 2 | 3;
        readonly metadata: GgufMetadata;
        readonly tensors: readonly SourceTensorInfo[];
    };
    /** One of info.tensors' data as chunks of at most chunkBytes (whole elements or blocks when chunkBytes is a multiple of their size). */
    readTensorChunks(tensor: SourceTensorInfo, chunkBytes?: number): AsyncIterable<Uint8Array>;
    /** Optional: bytes [start, start + into.length) of a tensor's data into `into`, no allocation (GGUF files). */
    readTensorInto?(tensor: SourceTensorInfo, into: Uint8Array, start?: number): Promise<void>;
    close(): Promise<void>;
}

/** A directory is read as a Hugging Face model folder, anything else as a GGUF file. */
export async function openModelSource(input: string): Promise<ModelSource> {
    const isDir = (() => {
        try {
            return statSync(input).isDirectory();
        } catch {
            return false; // readGguf says what is wrong with the path
        }
    })();
    return isDir ? openHfModel(input) : readGguf(input);
}
