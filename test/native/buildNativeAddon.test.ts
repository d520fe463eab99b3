// The first-use addon build's lock: a second process waits for the first instead of building over it, and a lock
// left by a process that died is taken over. Each case runs buildNativeAddon in a child process, as two apps would.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import { afterAll, describe, expect, it } from "vitest";

import { repoRoot } from "../helpers/sharedData.js";

const dir = mkdtempSync(join(tmpdir(), "entgguf-addon-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const moduleUrl = pathToFileURL(join(repoRoot, "dist", "src", "native", "buildNativeAddon.js")).href;

/** A child process that calls buildNativeAddon(root, { target }) and prints the path it returns. */
function child(root: string, target: string) {
    const code = `const { buildNativeAddon } = await import(${JSON.stringify(moduleUrl)});
        console.log(buildNativeAddon(${JSON.stringify(root)}, { target: ${JSON.stringify(target)} }));`;
    return spawn(process.execPath, ["--input-type=module", "-e", code], { stdio: ["ignore", "pipe", "pipe"] });
}

function finished(p: ReturnType<typeof child>): Promise<{ code: number | null; stdout: string; stderr: string }> {
    let stdout = "";
    let stderr = "";
    p.stdout!.on("data", (d) => (stdout += d));
    p.stderr!.on("data", (d) => (stderr += d));
    return new Promise((resolve) => p.on("close", (code) => resolve({ code, stdout, stderr })));
}

describe("buildNativeAddon's lock", () => {
    it("waits while a live process holds the lock, then uses what that process built", async () => {
        // a package folder with no sources: had the waiting process tried to build, it would have failed
        const root = join(dir, "pkg");
        mkdirSync(join(root, ".cache", "addon-build.lock"), { recursive: true });
        writeFileSync(join(root, ".cache", "addon-build.lock", "pid"), String(process.pid)); // alive: this test
        const target = join(dir, "pkg-addon.node");
        const waiting = finished(child(root, target));
        await new Promise((r) => setTimeout(r, 1500));
        // the "other builder" finishes: its addon appears, its lock goes
        writeFileSync(target, "built by the other process");
        rmSync(join(root, ".cache", "addon-build.lock"), { recursive: true });
        const r = await waiting;
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(new RegExp(`another process \\(pid ${process.pid}\\) is building the native addon; waiting`));
        expect(r.stdout.trim()).toBe(target);
        expect(r.stderr).not.toMatch(/compiling the native addon/);
    }, 60_000);

    it("takes over a lock whose process is gone, and builds an addon that loads", async () => {
        const dead = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
        const deadPid = Number(dead.stdout.trim());
        const lock = join(repoRoot, ".cache", "addon-build.lock");
        mkdirSync(lock, { recursive: true });
        writeFileSync(join(lock, "pid"), String(deadPid));
        const target = join(dir, "repo-addon.node");
        const r = await finished(child(repoRoot, target));
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toMatch(/compiling the native addon/);
        expect(existsSync(lock)).toBe(false);
        const loads = spawnSync(process.execPath, ["-e", `process.exit(typeof require(${JSON.stringify(target)}).encode === "function" ? 0 : 1)`]);
        expect(loads.status).toBe(0);
    }, 600_000);
});
