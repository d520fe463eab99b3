// The tools build (entgguf build --tools): plain CMake from the same patched source as the runtime, cached
// by the runtime's build id. test-backend-ops cannot test GGML_TYPE_ENTQ (its type lists are fixed, and
// with only the CPU backend it compares nothing), so its equivalent, native/cpu/test/entq_mul_mat_test.cpp
// (mul_mat on coded weights vs an f64 reference), is linked against the tools build's ggml and run here.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { beforeAll, describe, expect, it } from "vitest";

import { packageRoot } from "../../src/native/binding.js";
import { buildLlamaTools, LLAMA_TOOL_NAMES, type LlamaTools } from "../../src/runtime/buildLlamaTools.js";

// a first tools build takes ~12 minutes on 2 busy cores: more than vitest's hook timeout allows
const TOOLS_BUILD_TIMEOUT_MS = 40 * 60_000;

let tools: LlamaTools;
let exe = "";

beforeAll(async () => {
    // the first run builds the tools (~10 minutes on 2 cores); later runs find them by build id
    tools = await buildLlamaTools();
    const libs = readdirSync(tools.binDir)
        .filter((f) => /^libggml(-base|-cpu)?\.so$/.test(f) || /^libggml(-base|-cpu)?\.dylib$/.test(f))
        .map((f) => join(tools.binDir, f));
    expect(libs.length, `ggml libraries in ${tools.binDir}`).toBe(3);
    const root = packageRoot();
    mkdirSync(join(root, ".cache", "tests"), { recursive: true });
    exe = join(root, ".cache", "tests", `entq_mul_mat_test-tools-${tools.buildId}`);
    execFileSync(
        process.env.CXX ?? "c++",
        [
            "-O2", "-std=c++17",
            "-I", join(tools.source.dir, "ggml", "include"),
            "-I", join(root, "native"),
            join(root, "native", "cpu", "test", "entq_mul_mat_test.cpp"),
            join(root, "native", "test", "test_main.cpp"),
            ...libs,
            `-Wl,-rpath,${tools.binDir}`,
            "-o", exe
        ],
        { stdio: "inherit" }
    );
}, TOOLS_BUILD_TIMEOUT_MS);

describe("llama.cpp tools build", () => {
    it("has every tool, and is found again by build id without building", async () => {
        for (const t of LLAMA_TOOL_NAMES) expect(existsSync(tools.tools[t]), t).toBe(true);
        const again = await buildLlamaTools({ build: "never", log: () => {} });
        expect(again).toEqual(tools);
    });

    it("its ggml multiplies ENTQ weights like the f64 reference (the test-backend-ops equivalent)", () => {
        let out: string;
        try {
            out = execFileSync(exe, [], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        } catch (e) {
            const err = e as { stdout?: string; stderr?: string };
            throw new Error(`entq_mul_mat_test (tools build) failed:\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
        }
        expect(out).toMatch(/^ok {3}entq_mul_mat_matches_f64_reference$/m);
        const cases = [...out.matchAll(/B=(\d+)\s+threads=\d nmse=(\S+)/g)];
        expect(cases.length).toBeGreaterThan(0);
        for (const c of cases) expect(Number(c[2])).toBeLessThan(1e-6);
        expect(out).toMatch(/^\d+ passed, 0 failed$/m);
    });
});
