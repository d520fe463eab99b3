// ggml-level test of GGML_TYPE_ENTQ (test-backend-ops style): native/cpu/test/entq_mul_mat_test.cpp,
// compiled against the patched build's own ggml libraries, compares mul_mat on coded weights with an
// f64 reference over the dequantised weights (K not a multiple of 32, N = 1, batch 1..512, NMSE < 1e-6).
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";

import { beforeAll, describe, expect, it } from "vitest";

import { packageRoot } from "../../src/native/binding.js";
import { buildLlama } from "../../src/runtime/buildLlama.js";

let exe = "";

beforeAll(async () => {
    // the first run builds the patched llama.cpp (minutes); later runs find it by build id
    const build = await buildLlama();
    const root = packageRoot();
    const libs = readdirSync(build.binaryDir)
        .filter((f) => /^libggml(-base|-cpu)?(\.[\w-]+)*\.(so|dylib)$/.test(f))
        .map((f) => join(build.binaryDir, f));
    expect(libs.length, `ggml libraries in ${build.binaryDir}`).toBeGreaterThanOrEqual(3);
    mkdirSync(join(root, ".cache", "tests"), { recursive: true });
    exe = join(root, ".cache", "tests", `entq_mul_mat_test-${build.buildId}`);
    // always recompiled (~3 s): the test source may have changed while the build did not
    execFileSync(
            process.env.CXX ?? "c++",
            [
                "-O2",
                "-std=c++17",
                "-I", join(build.source.dir, "ggml", "include"),
                "-I", join(root, "native"),
                join(root, "native", "cpu", "test", "entq_mul_mat_test.cpp"),
                join(root, "native", "test", "test_main.cpp"),
                ...libs,
                `-Wl,-rpath,${build.binaryDir}`,
                "-o", exe
            ],
            { stdio: "inherit" }
        );
});

describe("GGML_TYPE_ENTQ on the patched ggml-cpu", () => {
    it("mul_mat matches the f64 reference; nbytes, supports_op and validation behave", () => {
        let out: string;
        try {
            out = execFileSync(exe, [], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        } catch (e) {
            const err = e as { stdout?: string; stderr?: string };
            throw new Error(`entq_mul_mat_test failed:\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
        }
        expect(out).toMatch(/^ok {3}entq_mul_mat_matches_f64_reference$/m);
        const cases = [...out.matchAll(/B=(\d+)\s+threads=\d nmse=(\S+)/g)];
        expect(new Set(cases.map((c) => Number(c[1])))).toEqual(new Set([1, 2, 7, 32, 512]));
        for (const c of cases) expect(Number(c[2])).toBeLessThan(1e-6);
        expect(out).toMatch(/^5 passed, 0 failed$/m);
    });
});
