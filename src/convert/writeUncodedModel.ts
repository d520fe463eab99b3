// A model source written as a plain GGUF, nothing coded: how a Hugging Face folder
// becomes the F32/F16/BF16 GGUF that llama.cpp's own converter would give, in one
// step and with the converter's bounded memory (`entgguf convert --uncoded`).
import { writeGguf } from "../gguf/writeGguf.js";
import { ConvertProgress, type ProgressStream } from "./ConvertProgress.js";
import { openModelSource } from "./ModelSource.js";

export interface UncodedOptions {
    /** where the progress line goes (a terminal only); false for none */
    progress?: ProgressStream | false;
    signal?: AbortSignal;
}

export interface UncodedSummary {
    input: string;
    output: string;
    tensors: number;
    fileBytes: number;
    seconds: number;
    peakRssBytes: number;
}

/** Writes `input` (a GGUF or a Hugging Face folder) to `output` as a GGUF with every tensor in its source type. */
export async function writeUncodedModel(input: string, output: string, options: UncodedOptions = {}): Promise<UncodedSummary> {
    const start = performance.now();
    const source = await openModelSource(input);
    try {
        const { info } = source;
        const progressOut = options.progress === false ? undefined : (options.progress ?? process.stderr);
        const progress = progressOut && new ConvertProgress(info.tensors.length, info.tensors.reduce((a, t) => a + t.byteSize, 0), progressOut);
        const written = await writeGguf(
            output,
            { version: info.version, metadata: info.metadata, tensors: info.tensors.map((t) => ({ name: t.name, type: t.type, dims: t.dims })) },
            async function* (_spec, i) {
                const t = info.tensors[i]!;
                progress?.tensor(i, t.name);
                yield* source.readTensorChunks(t);
                progress?.advance(t.byteSize);
            },
            { signal: options.signal }
        );
        progress?.finish();
        return {
            input,
            output,
            tensors: info.tensors.length,
            fileBytes: written.fileSize,
            seconds: (performance.now() - start) / 1000,
            peakRssBytes: process.resourceUsage().maxRSS * 1024
        };
    } finally {
        await source.close();
    }
}
