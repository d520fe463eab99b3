// Builds node-llama-cpp's binding from the patched llama.cpp, once per patch set + native sources.
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync } from "node:fs";
import { join, relative } from "node:path";

import { getLlama, LlamaLogLevel } from "node-llama-cpp";

import { packageRoot } from "../native/binding.js";
import { applyPatches } from "./applyPatches.js";
import { nodeLlamaCppPaths } from "./llamaPaths.js";
import { prepareLlamaSource, type LlamaSource } from "./prepareLlamaSource.js";

export type EntLlamaGpu = false | "cuda" | "metal";

/** What a build gets when no gpu is asked for: Metal on macOS, as node-llama-cpp builds there (ENTQ weights stay on the CPU: patch 0005), else CPU only. */
export function defaultGpu(): EntLlamaGpu {
    return process.platform === "darwin" ? "metal" : false;
}

export interface EntLlamaBuildOptions {
    /** false: CPU only (the default, but Metal on macOS: defaultGpu). "cuda": also build ggml-cuda (needs the CUDA toolkit). "metal": ggml-metal (macOS; coded weights run on the CPU) */
    gpu?: EntLlamaGpu;
    /** CMAKE_CUDA_ARCHITECTURES for gpu "cuda", e.g. "89" or "80;90"; default: node-llama-cpp's choice */
    cudaArchitectures?: string;
    /**
     * also build llama.cpp's RPC backend (GGML_RPC=ON): what getEntLlama({ rpcServers }) runs. Its own build,
     * because with RPC compiled in llama.cpp reports GPU offloading as supported, and node-llama-cpp then refuses
     * `gpuLayers: "max"` on a machine without a GPU ("Not enough VRAM") instead of running on the CPU
     */
    rpc?: boolean;
    /** progress messages (default: to stderr with an [entgguf] prefix) */
    log?: (message: string) => void;
}

export interface EntLlamaBuild {
    /** hash of the patch set, the native sources compiled into llama.cpp, the release and the options */
    buildId: string;
    gpu: EntLlamaGpu;
    rpc: boolean;
    /** what node-llama-cpp's getLlama() must be given to find (or make) this build */
    cmakeOptions: Record<string, string>;
    source: LlamaSource;
    /** the folder with llama-addon.node and the ggml/llama shared libraries; undefined until built */
    binaryDir: string | undefined;
}

export const defaultLog = (message: string): void => void process.stderr.write(`[entgguf] ${message}\n`);

/** Source folders compiled into the patched llama.cpp: a change to any file rebuilds. */
function nativeSourceDirs(gpu: EntLlamaGpu): string[] {
    const native = join(packageRoot(), "native");
    const gpuDirs = gpu === "cuda" ? ["cuda"] : gpu === "metal" ? ["cuda", "metal"] : []; // Metal runs the CUDA tile layout
    return ["stream", "ggml", "cpu", ...gpuDirs].map((d) => join(native, d));
}

function hashTree(h: ReturnType<typeof createHash>, dir: string): void {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) {
            if (name !== "test") hashTree(h, path); // tests are built against the libraries, not into them
        } else {
            h.update(relative(packageRoot(), path)).update("\0").update(readFileSync(path));
        }
    }
}

/** node-llama-cpp builds from <its package>/llama/llama.cpp: point that at our patched source. */
function linkSourceForNodeLlamaCpp(dir: string, log: (m: string) => void): void {
    const link = nodeLlamaCppPaths().sourceLink;
    let st;
    try {
        st = lstatSync(link);
    } catch {
        st = undefined;
    }
    if (st?.isSymbolicLink() && readlinkSync(link) === dir) return;
    if (st?.isSymbolicLink()) unlinkSync(link);
    else if (st) {
        // a `node-llama-cpp source download` unpack: kept aside, not deleted
        const aside = `${link}.node-llama-cpp`;
        log(`moving node-llama-cpp's own llama.cpp source aside to ${aside}`);
        rmSync(aside, { recursive: true, force: true });
        renameSync(link, aside);
    }
    symlinkSync(dir, link, process.platform === "win32" ? "junction" : "dir");
}

/**
 * The patched CMake finds native/ through <source>/.entgguf-native (patch 0001), so the build's
 * cmake options, and with them node-llama-cpp's build folder name, do not depend on where the
 * project sits: a moved or copied project (or an app's node_modules) finds its build again.
 */
function linkNativeIntoSource(sourceDir: string): void {
    const link = join(sourceDir, ".entgguf-native");
    const target = join(packageRoot(), "native");
    let current: string | undefined;
    try {
        current = readlinkSync(link);
    } catch {
        current = undefined;
    }
    if (current === target) return;
    if (current === undefined) rmSync(link, { recursive: true, force: true }); // not a link: whatever sits there goes
    // made beside and renamed over: a process reading the link never sees it missing
    const tmp = `${link}.tmp-${process.pid}`;
    rmSync(tmp, { force: true });
    symlinkSync(target, tmp, process.platform === "win32" ? "junction" : "dir");
    renameSync(tmp, link);
}

/** The localBuilds/ folder whose build metadata carries our build id, if that build completed. */
function findBinaryDir(buildId: string): string | undefined {
    const root = nodeLlamaCppPaths().localBuilds;
    if (!existsSync(root)) return undefined;
    for (const folder of readdirSync(root)) {
        if (!existsSync(join(root, folder, "buildDone.status"))) continue;
        for (const sub of ["Release", "."]) {
            const meta = join(root, folder, sub, "_nlcBuildMetadata.json");
            if (existsSync(meta) && readFileSync(meta, "utf8").includes(`"ENTGGUF_BUILD_ID":"${buildId}"`)) return join(root, folder, sub);
        }
    }
    return undefined;
}

/**
 * Prepares the source (offline), applies the patches and works out which build these options
 * need; builds nothing. `binaryDir` says whether that build already exists.
 */
export async function resolveEntLlamaBuild(options: EntLlamaBuildOptions = {}): Promise<EntLlamaBuild> {
    const log = options.log ?? defaultLog;
    const gpu = options.gpu ?? defaultGpu();
    const rpc = options.rpc ?? false;
    const source = await prepareLlamaSource({ log });
    const { hash: patchHash } = applyPatches(source.dir, source.release, log);
    linkSourceForNodeLlamaCpp(source.dir, log);
    linkNativeIntoSource(source.dir);

    const h = createHash("sha256");
    h.update(JSON.stringify({ patchHash, release: source.release, nlc: source.nodeLlamaCppVersion, gpu, arch: options.cudaArchitectures ?? null, ...(rpc ? { rpc } : {}) }));
    for (const dir of nativeSourceDirs(gpu)) hashTree(h, dir);
    const buildId = h.digest("hex").slice(0, 16);

    // no paths here: node-llama-cpp names the build folder after these options
    const cmakeOptions: Record<string, string> = { ENTGGUF_BUILD_ID: buildId };
    if (rpc) cmakeOptions.GGML_RPC = "ON";
    if (gpu === "cuda" && options.cudaArchitectures) cmakeOptions.CMAKE_CUDA_ARCHITECTURES = options.cudaArchitectures;
    return { buildId, gpu, rpc, cmakeOptions, source, binaryDir: findBinaryDir(buildId) };
}

/** getLlama() options that load exactly this build and nothing else (no prebuilt binary, no download). */
export function nodeLlamaCppOptions(build: EntLlamaBuild, mode: "never" | "forceRebuild") {
    return {
        gpu: build.gpu,
        cmakeOptions: build.cmakeOptions,
        build: mode,
        usePrebuiltBinaries: false,
        existingPrebuiltBinaryMustMatchBuildOptions: true,
        skipDownload: true
    } as const;
}

/**
 * The patched llama.cpp binding for these options, built when missing (or always with `force`):
 * minutes on a CPU (~3 on 2 cores), then cached under node-llama-cpp's localBuilds/ by build id.
 * Loads the binding once to build it; prefer getEntLlama() in programs that go on to run models.
 */
export async function buildLlama(options: EntLlamaBuildOptions & { force?: boolean } = {}): Promise<EntLlamaBuild & { binaryDir: string }> {
    const log = options.log ?? defaultLog;
    const build = await resolveEntLlamaBuild(options);
    if (build.binaryDir && !options.force) {
        // "present" must mean "loads": a build that node-llama-cpp cannot load is rebuilt
        try {
            const llama = await getLlama({ ...nodeLlamaCppOptions(build, "never"), logLevel: LlamaLogLevel.error });
            await llama.dispose();
            return { ...build, binaryDir: build.binaryDir };
        } catch (e) {
            log(`the build in ${build.binaryDir} does not load (${(e as Error).message.split("\n")[0]}); rebuilding it`);
        }
    }
    log(buildingMessage(build));
    const started = Date.now();
    const llama = await getLlama({ ...nodeLlamaCppOptions(build, "forceRebuild"), progressLogs: true, logLevel: LlamaLogLevel.warn });
    await llama.dispose();
    const binaryDir = findBinaryDir(build.buildId);
    if (!binaryDir) throw new Error(`entgguf: node-llama-cpp finished building but no build with ENTGGUF_BUILD_ID=${build.buildId} is in ${nodeLlamaCppPaths().localBuilds}`);
    log(`built llama.cpp ${build.source.release} + entgguf patches in ${((Date.now() - started) / 1000).toFixed(0)} s: ${binaryDir}`);
    return { ...build, binaryDir };
}

export function buildingMessage(build: EntLlamaBuild): string {
    return (
        `building llama.cpp ${build.source.release} with entgguf's patches (${build.gpu === "cuda" ? "CPU + CUDA" : build.gpu === "metal" ? "CPU + Metal" : "CPU"}${build.rpc ? " + RPC" : ""}, build ${build.buildId}); ` +
        `this takes a few minutes and happens once per patch set`
    );
}
