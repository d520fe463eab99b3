// Builds llama.cpp's command-line tools (llama-quantize, llama-perplexity, llama-bench, llama-imatrix,
// test-backend-ops) from the same patched source as the runtime, with plain CMake (CPU, Release), so they
// read entropy-coded GGUFs. Cached by the runtime's build id (patch set + native sources + release).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";

import { packageRoot } from "../native/binding.js";
import { defaultLog, resolveEntLlamaBuild } from "./buildLlama.js";
import type { LlamaSource } from "./prepareLlamaSource.js";

export const LLAMA_TOOL_NAMES = ["llama-quantize", "llama-perplexity", "llama-bench", "llama-imatrix", "test-backend-ops"] as const;
export type LlamaToolName = (typeof LLAMA_TOOL_NAMES)[number];

export interface LlamaTools {
    /** the runtime's CPU build id: the same patch set and native sources */
    buildId: string;
    source: LlamaSource;
    /** the CMake build tree */
    dir: string;
    /** where the executables and the ggml/llama shared libraries are */
    binDir: string;
    tools: Record<LlamaToolName, string>;
}

export interface BuildLlamaToolsOptions {
    /** "auto" (default): build when missing or out of date; "never": fail instead; "force": rebuild */
    build?: "auto" | "never" | "force";
    /** parallel compile jobs (default: all cores) */
    jobs?: number;
    log?: (message: string) => void;
}

/** The tools build is missing or failed; the message says what to do. */
export class LlamaToolsError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "LlamaToolsError";
    }
}

const STAMP_FILE = "entgguf-tools.json";

function configureArgs(source: LlamaSource, dir: string, generator: string | undefined): string[] {
    return [
        "-S", source.dir,
        "-B", dir,
        ...(generator ? ["-G", generator] : []),
        "-DCMAKE_BUILD_TYPE=Release",
        `-DENTGGUF_NATIVE_DIR=${join(packageRoot(), "native")}`,
        "-DGGML_NATIVE=ON",
        "-DBUILD_SHARED_LIBS=ON",
        "-DLLAMA_BUILD_COMMON=ON",
        "-DLLAMA_BUILD_TOOLS=ON",
        "-DLLAMA_BUILD_TESTS=ON",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=OFF",
        "-DLLAMA_BUILD_APP=OFF",
        // no HTTPS downloads: the tools only read local files
        "-DLLAMA_OPENSSL=OFF"
    ];
}

function hasNinja(): boolean {
    try {
        execFileSync("ninja", ["--version"], { stdio: "ignore" });
        return true;
    } catch {
        return false;
    }
}

/** Runs a command, passing its output lines to `onLine`; rejects with the last lines on failure. */
function runLogged(cmd: string, args: string[], onLine: (line: string) => void): Promise<void> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
        const tail: string[] = [];
        let partial = "";
        const take = (chunk: Buffer) => {
            const lines = (partial + chunk.toString("utf8")).split("\n");
            partial = lines.pop()!;
            for (const l of lines) {
                tail.push(l);
                if (tail.length > 40) tail.shift();
                onLine(l);
            }
        };
        child.stdout.on("data", take);
        child.stderr.on("data", take);
        child.on("error", (e) =>
            reject(new LlamaToolsError(`entgguf: cannot run ${cmd} (${e.message}); building the tools needs cmake >= 3.19 and a C++17 compiler`))
        );
        child.on("close", (code, signal) => {
            if (partial) tail.push(partial);
            if (code === 0) resolve();
            else reject(new LlamaToolsError(`entgguf: ${cmd} ${args.slice(0, 3).join(" ")} ... failed (${signal ?? `exit ${code}`}):\n${tail.join("\n")}`));
        });
    });
}

/** One builder per tree at a time: a lock folder holding the owner's pid; a dead owner's lock is taken over. */
async function withLock<T>(dir: string, log: (m: string) => void, f: () => Promise<T>): Promise<T> {
    const lock = `${dir}.lock`;
    let told = false;
    for (;;) {
        try {
            mkdirSync(lock);
            writeFileSync(join(lock, "pid"), String(process.pid));
            break;
        } catch {
            let owner = NaN;
            try {
                owner = Number(readFileSync(join(lock, "pid"), "utf8"));
            } catch {
                // the owner is between mkdir and writing its pid
            }
            let alive = false;
            if (Number.isInteger(owner) && owner > 0) {
                try {
                    process.kill(owner, 0);
                    alive = true;
                } catch {
                    alive = false;
                }
            } else alive = true;
            if (!alive) rmSync(lock, { recursive: true, force: true });
            else {
                if (!told) log(`waiting for another process (pid ${owner}) building the tools in ${dir}`);
                told = true;
                await new Promise((r) => setTimeout(r, 2000));
            }
        }
    }
    try {
        return await f();
    } finally {
        rmSync(lock, { recursive: true, force: true });
    }
}

function toolPaths(binDir: string): Record<LlamaToolName, string> {
    return Object.fromEntries(LLAMA_TOOL_NAMES.map((t) => [t, join(binDir, t)])) as Record<LlamaToolName, string>;
}

function isCurrent(dir: string, buildId: string): boolean {
    const stamp = join(dir, STAMP_FILE);
    if (!existsSync(stamp)) return false;
    const s = JSON.parse(readFileSync(stamp, "utf8")) as { buildId?: string };
    return s.buildId === buildId && Object.values(toolPaths(join(dir, "bin"))).every((p) => existsSync(p));
}

/**
 * The patched llama.cpp tools for the current patch set and native sources, built when missing.
 * One CMake tree per release (.cache/tools/<release>-cpu/) is rebuilt incrementally when the build id
 * changes (a native/cpu edit recompiles a file, not the tree); a stamp records the id it was built for.
 * A first build compiles ggml, llama, llama-common and the five tools: ~10 minutes on 2 busy cores.
 */
export async function buildLlamaTools(options: BuildLlamaToolsOptions = {}): Promise<LlamaTools> {
    const log = options.log ?? defaultLog;
    const mode = options.build ?? "auto";
    const runtime = await resolveEntLlamaBuild({ gpu: false, log });
    const dir = join(packageRoot(), ".cache", "tools", `${runtime.source.release}-cpu`);
    const binDir = join(dir, "bin");
    const result: LlamaTools = { buildId: runtime.buildId, source: runtime.source, dir, binDir, tools: toolPaths(binDir) };
    if (mode !== "force" && isCurrent(dir, runtime.buildId)) return result;
    if (mode === "never")
        throw new LlamaToolsError(
            `entgguf: llama.cpp's tools for build ${runtime.buildId} are not built (${dir}).\n` +
                "Possible solutions:\n  - run `entgguf build --tools` (takes several minutes, once per patch set and native sources)"
        );

    mkdirSync(join(packageRoot(), ".cache", "tools"), { recursive: true });
    return withLock(dir, log, async () => {
        if (mode !== "force" && isCurrent(dir, runtime.buildId)) return result; // built by the process we waited for
        const started = Date.now();
        const generator = existsSync(join(dir, "CMakeCache.txt")) ? undefined : hasNinja() ? "Ninja" : undefined;
        log(`building llama.cpp ${runtime.source.release} tools with entgguf's patches (CPU, build ${runtime.buildId}) in ${dir}; minutes on a first build`);
        rmSync(join(dir, STAMP_FILE), { force: true });
        await runLogged("cmake", configureArgs(runtime.source, dir, generator), () => {});
        const jobs = options.jobs ?? availableParallelism();
        let lastPct = -1;
        let lastAt = 0;
        await runLogged("cmake", ["--build", dir, "--config", "Release", "-j", String(jobs), "--target", ...LLAMA_TOOL_NAMES], (line) => {
            // ninja "[12/151] ...", make "[ 45%] ...": a line per 10% or per 30 s
            const m = /^\[(\d+)\/(\d+)\]/.exec(line) ?? /^\[\s*(\d+)%\]/.exec(line);
            if (!m) return;
            const pct = m[2] ? Math.floor((100 * Number(m[1])) / Number(m[2])) : Number(m[1]);
            if (Math.floor(pct / 10) > Math.floor(lastPct / 10) || Date.now() - lastAt > 30_000) {
                log(`tools build ${pct}% (${((Date.now() - started) / 1000).toFixed(0)} s)`);
                lastAt = Date.now();
            }
            lastPct = pct;
        });
        const missing = Object.values(result.tools).filter((p) => !existsSync(p));
        if (missing.length) throw new LlamaToolsError(`entgguf: the tools build finished but ${missing.join(", ")} are missing`);
        writeFileSync(join(dir, STAMP_FILE), JSON.stringify({ buildId: runtime.buildId, release: runtime.source.release, tools: LLAMA_TOOL_NAMES }));
        log(`built the llama.cpp tools in ${((Date.now() - started) / 1000).toFixed(0)} s: ${binDir}`);
        return result;
    });
}
