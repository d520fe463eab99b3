// What an app developer does: `npm pack` this package, `npm install` the tarball into an empty app (npm 11: no
// install scripts run), then from the app convert through the API, `npx entgguf inspect`, and load + generate
// through getEntLlama(). The install is real (dependencies from the registry as npm is configured); only the
// patched llama.cpp build is copied from this checkout's node-llama-cpp into the app's, to save its minutes:
// its folder name depends only on build options, so the app must find it where this checkout has it.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildLlama } from "../../src/runtime/buildLlama.js";
import { repoRoot } from "../helpers/sharedData.js";

const dir = mkdtempSync(join(tmpdir(), "entgguf-app-"));
const app = join(dir, "app");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string, timeoutMs = 600_000): SpawnSyncReturns<string> {
    return spawnSync(cmd, args, { cwd, encoding: "utf8", timeout: timeoutMs, env: { ...process.env, npm_config_yes: "true" } });
}

function explain(r: SpawnSyncReturns<string>): string {
    return `exit ${r.status ?? r.signal}\n--- stdout\n${r.stdout?.slice(-3000)}\n--- stderr\n${r.stderr?.slice(-3000)}`;
}

let installError: string | undefined;
let offline = false;

beforeAll(() => {
    // the patched build this checkout's tests use (built once; cached)
    return (async () => {
        const build = await buildLlama({ log: () => {} });
        const packed = run("npm", ["pack", "--pack-destination", dir], repoRoot, 900_000);
        if (packed.status !== 0) throw new Error(`npm pack failed: ${explain(packed)}`);
        const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
        if (!tarball) throw new Error(`npm pack wrote no tarball in ${dir}: ${explain(packed)}`);

        const installed = (() => {
            rmSync(app, { recursive: true, force: true });
            cpSync(join(repoRoot, "test", "package", "app"), app, { recursive: true });
            return run("npm", ["install", "--no-audit", "--no-fund", join(dir, tarball)], app, 900_000);
        })();
        if (installed.status !== 0) {
            // no registry (an offline clone) is not a defect of the package: say so and skip
            offline = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH/.test(installed.stderr);
            installError = `npm install of the packed tarball failed: ${explain(installed)}`;
            return;
        }
        // the build folder, under the same name in the app's node-llama-cpp (binaryDir is <folder>/Release or <folder>)
        const folder = basename(build.binaryDir) === "Release" ? dirname(build.binaryDir) : build.binaryDir;
        const appBuilds = join(app, "node_modules", "node-llama-cpp", "llama", "localBuilds");
        cpSync(folder, join(appBuilds, basename(folder)), { recursive: true, filter: (src) => !src.includes(`${basename(folder)}/llama.cpp`) && !src.endsWith("CMakeFiles") });
    })();
}, 1_800_000);

describe("entgguf installed into an app from its packed tarball", () => {
    it("installs with no install scripts: the package carries the addon, the demo model and its notice, no build/", (ctx) => {
        if (offline) ctx.skip(`skipped: no npm registry reachable (${installError?.split("\n")[0]})`);
        expect(installError).toBeUndefined();
        const pkg = join(app, "node_modules", "entgguf");
        expect(existsSync(join(pkg, "prebuilds", "linux-x64", "entgguf_native.node"))).toBe(process.platform === "linux" && process.arch === "x64");
        expect(existsSync(join(pkg, "build"))).toBe(false);
        expect(existsSync(join(pkg, "models", "stories260K.gguf"))).toBe(true);
        expect(existsSync(join(pkg, "models", "README.md"))).toBe(true);
    });

    it("converts through the API and inspects with npx entgguf", (ctx) => {
        if (offline) ctx.skip("skipped: no npm registry reachable");
        expect(installError).toBeUndefined();
        const conv = run(process.execPath, ["convert.mjs"], app);
        expect(conv.status, explain(conv)).toBe(0);
        const summary = JSON.parse(conv.stdout) as { tensors: number; bitsPerWeight: number; addon: string };
        expect(summary.tensors).toBe(37); // 35 linear weights, the output head, the token embeddings
        expect(Math.abs(summary.bitsPerWeight - 4)).toBeLessThan(0.05);
        // the prebuilt addon served: nothing was compiled
        if (process.platform === "linux" && process.arch === "x64") expect(summary.addon).toMatch(/prebuilds\/linux-x64\/entgguf_native\.node$/);

        const inspect = run("npx", ["entgguf", "inspect", "coded.gguf", "--json"], app);
        expect(inspect.status, explain(inspect)).toBe(0);
        const r = JSON.parse(inspect.stdout) as { tensors: { entq?: unknown }[]; codedBitsPerWeight: number };
        expect(r.tensors.filter((t) => t.entq)).toHaveLength(37);
        expect(r.codedBitsPerWeight).toBeCloseTo(summary.bitsPerWeight, 6);
        console.log(`installed app: convert + npx entgguf inspect ok (${summary.bitsPerWeight.toFixed(3)} bits/weight, addon ${summary.addon})`);
    });

    it("loads the coded model through getEntLlama() and generates", (ctx) => {
        if (offline) ctx.skip("skipped: no npm registry reachable");
        expect(installError).toBeUndefined();
        const gen = run(process.execPath, ["generate.mjs"], app);
        expect(gen.status, explain(gen)).toBe(0);
        const out = JSON.parse(gen.stdout.trim().split("\n").pop()!) as { text: string; tokens: number; layout: string };
        expect(out.tokens).toBe(24);
        expect(out.text.length).toBeGreaterThan(20);
        console.log(`installed app: ${JSON.stringify(out)}`);
    });
});
