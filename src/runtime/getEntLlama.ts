// The public entry point: node-llama-cpp's Llama, running entgguf's patched llama.cpp.
import { getLlama, type Llama, type LlamaOptions } from "node-llama-cpp";

import { ENTQ_GGML_TYPE } from "../gguf/ggmlTypes.js";
import { buildingMessage, defaultLog, nodeLlamaCppOptions, resolveEntLlamaBuild, type EntLlamaBuildOptions } from "./buildLlama.js";
import { nodeLlamaCppPaths } from "./llamaPaths.js";

export type GetEntLlamaOptions = EntLlamaBuildOptions &
    Omit<LlamaOptions, "gpu" | "build" | "cmakeOptions" | "usePrebuiltBinaries" | "existingPrebuiltBinaryMustMatchBuildOptions" | "skipDownload"> & {
        /** build the patched llama.cpp when it is missing (default true); false: fail instead */
        autoBuild?: boolean;
    };

/** Loading or building the patched llama.cpp failed; the message lists what to do. */
export class EntLlamaLoadError extends Error {
    constructor(message: string, options?: { cause?: unknown }) {
        super(message, options);
        this.name = "EntLlamaLoadError";
    }
}

// One llama.cpp build per process: two builds' shared libraries (libggml*, libllama) share names.
let loaded: { buildId: string; llama: Promise<Llama> } | undefined;

/**
 * node-llama-cpp's `Llama` backed by llama.cpp with entgguf's patches, so `llama.loadModel()`,
 * contexts and chat sessions work unchanged for entropy-coded and ordinary GGUFs alike.
 * Never falls back to node-llama-cpp's stock binaries: a missing build is built (minutes, once),
 * or refused with `autoBuild: false`. Repeated calls return the same instance.
 */
export async function getEntLlama(options: GetEntLlamaOptions = {}): Promise<Llama> {
    const { gpu, cudaArchitectures, log = defaultLog, autoBuild = true, ...llamaOptions } = options;
    const build = await resolveEntLlamaBuild({ gpu, cudaArchitectures, log });
    if (loaded && loaded.buildId !== build.buildId)
        throw new EntLlamaLoadError(
            `entgguf: this process already runs llama.cpp build ${loaded.buildId}; build ${build.buildId} ` +
                `(other gpu/patch/native-source options) needs a new process, since both builds' shared libraries share names`
        );
    if (loaded) {
        const llama = await loaded.llama;
        if (!llama.disposed) return llama;
    }
    if (!build.binaryDir && !autoBuild)
        throw new EntLlamaLoadError(
            `entgguf: the patched llama.cpp (build ${build.buildId}) is not built.\n` +
                "Possible solutions:\n  - run `entgguf build` (takes a few minutes, once)\n  - or call getEntLlama() without `autoBuild: false`"
        );
    if (!build.binaryDir) log(buildingMessage(build));

    const llama = (async () => {
        let llama: Llama;
        try {
            try {
                llama = await getLlama({ ...llamaOptions, ...nodeLlamaCppOptions(build, build.binaryDir ? "never" : "forceRebuild") });
            } catch (e) {
                // a build that is there but does not load (another machine's, half copied) is rebuilt once
                if (!build.binaryDir || !autoBuild) throw e;
                log(`the build in ${build.binaryDir} does not load (${(e as Error).message.split("\n")[0]}); rebuilding it`);
                log(buildingMessage(build));
                llama = await getLlama({ ...llamaOptions, ...nodeLlamaCppOptions(build, "forceRebuild") });
            }
        } catch (e) {
            throw new EntLlamaLoadError(
                `entgguf: could not ${build.binaryDir ? "load" : "build"} the patched llama.cpp (build ${build.buildId}, ` +
                    `${nodeLlamaCppPaths().localBuilds}): ${(e as Error).message}\n` +
                    "Possible solutions:\n  - rebuild it: `entgguf build --force`\n" +
                    "  - building needs cmake >= 3.19, a C++17 compiler and git (and the CUDA toolkit for --gpu cuda)",
                { cause: e }
            );
        }
        // a binding without our type would be the stock one: refuse it rather than run wrong
        const bindings = (llama as unknown as { _bindings?: { getTypeSizeForGgmlType(t: number): number | undefined } })._bindings;
        if (bindings?.getTypeSizeForGgmlType(ENTQ_GGML_TYPE) !== 1) {
            await llama.dispose();
            throw new EntLlamaLoadError(`entgguf: the llama.cpp binding node-llama-cpp loaded does not know GGML_TYPE_ENTQ (${ENTQ_GGML_TYPE}); it is not entgguf's build`);
        }
        return llama;
    })();
    loaded = { buildId: build.buildId, llama };
    llama.catch(() => {
        if (loaded?.llama === llama) loaded = undefined;
    });
    return llama;
}
