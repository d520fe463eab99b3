// Builds the native addon from the package's own sources (cmake-js): where no prebuilt binary
// serves this platform, on first use, or explicitly with `entgguf build --addon`.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";

/** The addon's file name; cmake-js writes it to <out>/Release/. */
export const ADDON_FILE = "entgguf_native.node";

/** Where a build from source puts the addon (also where `npm run build:native` does, in a checkout). */
export function builtAddonPath(root: string): string {
    return join(root, "build", "Release", ADDON_FILE);
}

/** The binary `npm pack` puts in the package for this platform (prebuilds/<platform>-<arch>/). */
export function prebuiltAddonPath(root: string): string {
    return join(root, "prebuilds", `${process.platform}-${process.arch}`, ADDON_FILE);
}

function sleepMs(ms: number): void {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function pidAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/**
 * Takes the build lock (a folder: mkdir is atomic), waiting while another live process holds it;
 * a lock whose process is gone is taken over. Returns false when another process built the addon
 * while this one waited.
 */
function takeLock(lock: string, target: string, log: (m: string) => void): boolean {
    let waited = false;
    for (;;) {
        try {
            mkdirSync(lock);
            // the lock is free again: after waiting, what the other process built is used, not rebuilt
            if (waited && existsSync(target)) {
                rmSync(lock, { recursive: true, force: true });
                return false;
            }
            writeFileSync(join(lock, "pid"), String(process.pid));
            return true;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
        }
        let holder = NaN;
        try {
            holder = Number(readFileSync(join(lock, "pid"), "utf8"));
        } catch {
            // the holder is between mkdir and writing its pid, or just released the lock
        }
        if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
            rmSync(lock, { recursive: true, force: true });
            continue;
        }
        if (!waited) log(`another process (pid ${Number.isNaN(holder) ? "?" : holder}) is building the native addon; waiting for it`);
        waited = true;
        sleepMs(500);
    }
}

export interface BuildNativeAddonOptions {
    /** progress lines (default: stderr with an [entgguf] prefix) */
    log?: (message: string) => void;
    /** where the addon goes (default builtAddonPath(root)) */
    target?: string;
}

/**
 * Compiles the addon alone (cmake-js, target entgguf_native) into a build folder under .cache/ and
 * moves it into place with a rename, under a lock: two processes building at once wait for one
 * another, and a reader never sees half a file. Needs cmake >= 3.18 and a C++17 compiler; ~1 min.
 */
export function buildNativeAddon(root: string, options: BuildNativeAddonOptions = {}): string {
    const log = options.log ?? ((m: string) => void process.stderr.write(`[entgguf] ${m}\n`));
    const target = options.target ?? builtAddonPath(root);
    const cache = join(root, ".cache");
    mkdirSync(cache, { recursive: true });
    const lock = join(cache, "addon-build.lock");
    if (!takeLock(lock, target, log)) return target;
    try {
        let cmakeJs: string;
        try {
            cmakeJs = join(dirname(createRequire(join(root, "package.json")).resolve("cmake-js/package.json")), "bin", "cmake-js");
        } catch {
            throw new Error(`entgguf: cmake-js is not installed beside ${root}; reinstall entgguf (\`npm install entgguf\`) so that its dependencies are present`);
        }
        const out = join(cache, "addon-build");
        log(`compiling the native addon for ${process.platform}-${process.arch} in ${out} (cmake-js; about a minute)`);
        const started = Date.now();
        // the compiler's chatter goes to stderr: stdout may carry a command's result (e.g. inspect --json)
        const r = spawnSync(
            process.execPath,
            [cmakeJs, "compile", "--directory", root, "--out", out, "--target", "entgguf_native", "--parallel", String(availableParallelism())],
            { cwd: root, stdio: ["ignore", process.stderr, process.stderr] }
        );
        const built = join(out, "Release", ADDON_FILE);
        if (r.status !== 0 || !existsSync(built))
            throw new Error(
                `entgguf: building the native addon failed (cmake-js exited with ${r.status ?? r.signal ?? r.error?.message}); ` +
                    "it needs cmake >= 3.18 and a C++17 compiler (on Debian/Ubuntu: apt install cmake g++)"
            );
        mkdirSync(dirname(target), { recursive: true });
        const tmp = `${target}.tmp-${process.pid}`;
        copyFileSync(built, tmp);
        renameSync(tmp, target);
        log(`native addon built in ${((Date.now() - started) / 1000).toFixed(0)} s: ${target}`);
        return target;
    } finally {
        rmSync(lock, { recursive: true, force: true });
    }
}
