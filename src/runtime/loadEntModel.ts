// Loads a model as llama.loadModel() does, but with one clear error for a bad file: the file's GGUF structure is
// checked first with entgguf's own reader, and a refusal by llama.cpp carries llama.cpp's reason.
import { resolve } from "node:path";

import { LlamaLogLevel, LlamaLogLevelGreaterThanOrEqual, type Llama, type LlamaModel, type LlamaModelOptions } from "node-llama-cpp";

import { GgufFormatError } from "../gguf/GgufFormatError.js";
import { readGguf } from "../gguf/readGguf.js";

export type LoadEntModelOptions = LlamaModelOptions & {
    /**
     * Read the file's header (metadata, tensor infos, tensor placement) with entgguf's reader before
     * node-llama-cpp does (default true). node-llama-cpp's own reader, which runs before llama.cpp, has no
     * bound on what a damaged count makes it read: one flipped bit in a tensor's dimension count kept it busy
     * for minutes. Ours refuses such a file in milliseconds, naming the byte.
     */
    checkGguf?: boolean;
};

/** A model file that could not be loaded: names the file, the stage that refused it and why. */
export class EntModelLoadError extends Error {
    constructor(
        readonly modelPath: string,
        /** "gguf": entgguf's header check; "llama.cpp": llama.cpp's loader (including the coded weights' checksums) */
        readonly stage: "gguf" | "llama.cpp",
        readonly reason: string,
        options?: { cause?: unknown }
    ) {
        super(`cannot load ${modelPath}: ${reason}`, options);
        this.name = "EntModelLoadError";
    }
}

// How long to wait, after llama.cpp refused a file, for its reason: its log lines cross threads asynchronously.
const REASON_WAIT_MS = 2000;

/** Lines llama.cpp logs at error level while a load runs, for every load running on one Llama. */
type Capture = { listeners: Set<(line: string) => void>; userLogger: Llama["logger"]; userLevel: LlamaLogLevel };
const captures = new WeakMap<Llama, Capture>();

function startCapture(llama: Llama, listener: (line: string) => void): () => void {
    let c = captures.get(llama);
    if (!c) {
        const capture: Capture = { listeners: new Set(), userLogger: llama.logger, userLevel: llama.logLevel };
        llama.logger = (level, message) => {
            if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) for (const l of capture.listeners) l(message);
            // only what the app asked to see reaches its logger
            if (LlamaLogLevelGreaterThanOrEqual(level, capture.userLevel)) capture.userLogger(level, message);
        };
        // error lines must reach JavaScript even where the app turned logging down
        if (!LlamaLogLevelGreaterThanOrEqual(LlamaLogLevel.error, llama.logLevel)) llama.logLevel = LlamaLogLevel.error;
        captures.set(llama, capture);
        c = capture;
    }
    c.listeners.add(listener);
    return () => {
        c.listeners.delete(listener);
        if (c.listeners.size > 0) return;
        captures.delete(llama);
        llama.logger = c.userLogger;
        llama.logLevel = c.userLevel;
    };
}

/**
 * `llama.loadModel(options)` for entgguf's llama (getEntLlama), with one EntModelLoadError for a bad file:
 * refused by entgguf's GGUF check (see `checkGguf`) or by llama.cpp, whose reason (e.g. "tensor
 * 'blk.2.ffn_up.weight': segment 0 of 1 (rows 0-171): does not decode (checksum mismatch): the model file is
 * damaged") becomes the error's message. Other failures (memory, an aborted load) pass through unchanged.
 */
export async function loadEntModel(llama: Llama, options: LoadEntModelOptions): Promise<LlamaModel> {
    const { checkGguf = true, ...modelOptions } = options;
    const modelPath = resolve(modelOptions.modelPath);
    if (checkGguf) {
        try {
            await (await readGguf(modelPath)).close();
        } catch (e) {
            if (!(e instanceof GgufFormatError)) throw e;
            throw new EntModelLoadError(modelPath, "gguf", e.message.startsWith(`${e.file}: `) ? e.message.slice(e.file.length + 2) : e.message, { cause: e });
        }
    }
    // llama.cpp (patch 0006) logs "llama_model_load: error loading model '<path>': <reason>"
    const marker = `error loading model '${modelPath}': `;
    const errors: string[] = [];
    let reason: string | undefined;
    let onReason: (() => void) | undefined;
    const stop = startCapture(llama, (line) => {
        const at = line.indexOf(marker);
        if (at >= 0) {
            reason = line.slice(at + marker.length).trim();
            onReason?.();
        } else errors.push(line.trim());
    });
    try {
        return await llama.loadModel({ ...modelOptions, modelPath });
    } catch (e) {
        if (!(e instanceof Error) || e.message !== "Failed to load model") throw e;
        if (reason === undefined)
            await new Promise<void>((done) => {
                const timer = setTimeout(done, REASON_WAIT_MS);
                onReason = () => (clearTimeout(timer), done());
            });
        // gguf's own complaint comes before llama.cpp's generic "failed to load model from <path>"; node-llama-cpp's
        // memory estimate loads the metadata once more (no path), so llama.cpp's reason may come twice
        const why = [...errors.filter((l) => !l.includes("failed to load model") && !l.includes("error loading model '")), reason]
            .filter((l) => l)
            .join("; ");
        throw new EntModelLoadError(modelPath, "llama.cpp", why || "llama.cpp refused it (its log has no reason)", { cause: e });
    } finally {
        stop();
    }
}
