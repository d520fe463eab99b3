// The public entry point: node-llama-cpp's Llama, running entgguf's patched llama.cpp.
import { getLlama, type Llama, type LlamaOptions } from "node-llama-cpp";

import { ENTQ_GGML_TYPE } from "../gguf/ggmlTypes.js";
import { buildingMessage, defaultLog, nodeLlamaCppOptions, resolveEntLlamaBuild, type EntLlamaBuildOptions } from "./buildLlama.js";
import { checkRpcServer, parseRpcEndpoint } from "./checkRpcServer.js";
import { nodeLlamaCppPaths } from "./llamaPaths.js";

export type GetEntLlamaOptions = EntLlamaBuildOptions &
    Omit<LlamaOptions, "gpu" | "build" | "cmakeOptions" | "usePrebuiltBinaries" | "existingPrebuiltBinaryMustMatchBuildOptions" | "skipDownload"> & {
        /** build the patched llama.cpp when it is missing (default true); false: fail instead */
        autoBuild?: boolean;
        /**
         * `entgguf rpc-server` endpoints ("host:port") whose memory takes model layers: load models with
         * `gpuLayers` > 0 (the last layers, the output layer first, split over the servers by their free
         * memory; the first layers stay on this CPU).
         * Fixed per process: llama.cpp registers its devices once. Trusted networks only (README).
         */
        rpcServers?: string[];
    };

/** Loading or building the patched llama.cpp failed; the message lists what to do. */
export class EntLlamaLoadError extends Error {
    constructor(message: string, options?: { cause?: unknown }) {
        super(message, options);
        this.name = "EntLlamaLoadError";
    }
}

// One llama.cpp build per process: two builds' shared libraries (libggml*, libllama) share names.
// Its RPC devices are registered once too, when the binding starts (patch 0009: ENTGGUF_RPC_SERVERS).
let loaded: { buildId: string; rpc: string; llama: Promise<Llama> } | undefined;

const RPC_SERVERS_ENV = "ENTGGUF_RPC_SERVERS";

/** node-llama-cpp's getLlama() with ENTGGUF_RPC_SERVERS set to `rpc` while the binding registers its devices. */
async function getLlamaWithRpc(rpc: string, load: () => Promise<Llama>): Promise<Llama> {
    const before = process.env[RPC_SERVERS_ENV];
    if (rpc) process.env[RPC_SERVERS_ENV] = rpc;
    else delete process.env[RPC_SERVERS_ENV];
    try {
        return await load();
    } finally {
        // not inherited by tools this process runs later
        if (before === undefined) delete process.env[RPC_SERVERS_ENV];
        else process.env[RPC_SERVERS_ENV] = before;
    }
}

/**
 * node-llama-cpp's `Llama` backed by llama.cpp with entgguf's patches, so `llama.loadModel()`,
 * contexts and chat sessions work unchanged for entropy-coded and ordinary GGUFs alike.
 * Never falls back to node-llama-cpp's stock binaries: a missing build is built (minutes, once),
 * or refused with `autoBuild: false`. Repeated calls return the same instance.
 */
export async function getEntLlama(options: GetEntLlamaOptions = {}): Promise<Llama> {
    const { gpu, cudaArchitectures, log = defaultLog, autoBuild = true, rpcServers = [], ...llamaOptions } = options;
    const rpc = rpcServers.join(",");
    for (const endpoint of rpcServers) parseRpcEndpoint(endpoint);
    const build = await resolveEntLlamaBuild({ gpu, cudaArchitectures, rpc: rpcServers.length > 0, log });
    if (loaded && loaded.buildId !== build.buildId)
        throw new EntLlamaLoadError(
            `entgguf: this process already runs llama.cpp build ${loaded.buildId}; build ${build.buildId} ` +
                `(other gpu/rpc/patch/native-source options) needs a new process, since both builds' shared libraries share names`
        );
    if (loaded && loaded.rpc !== rpc)
        throw new EntLlamaLoadError(
            `entgguf: this process already runs llama.cpp with RPC servers [${loaded.rpc}]; [${rpc}] needs a new process, since llama.cpp registers its devices once`
        );
    if (loaded) {
        const llama = await loaded.llama;
        if (!llama.disposed) return llama;
    }
    // a stock, unreachable or busy server: a clear error now rather than an abort inside llama.cpp
    for (const endpoint of rpcServers) await checkRpcServer(endpoint);
    if (!build.binaryDir && !autoBuild)
        throw new EntLlamaLoadError(
            `entgguf: the patched llama.cpp (build ${build.buildId}) is not built.\n` +
                `Possible solutions:\n  - run \`entgguf build${build.rpc ? " --rpc" : ""}\` (takes a few minutes, once)\n  - or call getEntLlama() without \`autoBuild: false\``
        );
    if (!build.binaryDir) log(buildingMessage(build));

    const llama = (async () => {
        let llama: Llama;
        try {
            try {
                llama = await getLlamaWithRpc(rpc, () => getLlama({ ...llamaOptions, ...nodeLlamaCppOptions(build, build.binaryDir ? "never" : "forceRebuild") }));
            } catch (e) {
                // a build that is there but does not load (another machine's, half copied) is rebuilt once
                if (!build.binaryDir || !autoBuild) throw e;
                log(`the build in ${build.binaryDir} does not load (${(e as Error).message.split("\n")[0]}); rebuilding it`);
                log(buildingMessage(build));
                llama = await getLlamaWithRpc(rpc, () => getLlama({ ...llamaOptions, ...nodeLlamaCppOptions(build, "forceRebuild") }));
            }
        } catch (e) {
            throw new EntLlamaLoadError(
                `entgguf: could not ${build.binaryDir ? "load" : "build"} the patched llama.cpp (build ${build.buildId}, ` +
                    `${nodeLlamaCppPaths().localBuilds}): ${(e as Error).message}\n` +
                    `Possible solutions:\n  - rebuild it: \`entgguf build${build.rpc ? " --rpc" : ""} --force\`\n` +
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
        // an RPC device's description is its endpoint; none are there if the binding started earlier without them
        const devices = rpcServers.length ? await llama.getGpuDeviceNames() : [];
        const missing = rpcServers.filter((e) => !devices.includes(e));
        if (missing.length) {
            await llama.dispose();
            throw new EntLlamaLoadError(
                `entgguf: llama.cpp did not register the RPC servers ${missing.join(", ")}: this process started the binding earlier without them; ` +
                    "call getEntLlama({ rpcServers }) before anything else loads llama.cpp"
            );
        }
        return llama;
    })();
    loaded = { buildId: build.buildId, rpc, llama };
    llama.catch(() => {
        if (loaded?.llama === llama) loaded = undefined;
    });
    return llama;
}
