import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { packageRoot } from "../../src/native/binding.js";

// Every CUDA source in native/cuda compiles for Ampere (sm_80) and Hopper
// (sm_90) with the nvcc at hand; the decode kernels must not spill registers
// on sm_90. No GPU is needed (the kernels' schedule is tested on the CPU by
// native/test/cuda_lane_test.cpp; GPU runs: scripts/gpu-check.sh).

function findNvcc(): string | undefined {
    const candidates = [process.env.NVCC, "nvcc", "/usr/local/cuda/bin/nvcc"].filter((c): c is string => !!c);
    for (const c of candidates) {
        const r = spawnSync(c, ["--version"], { encoding: "utf8" });
        if (r.status === 0) return c;
    }
    return undefined;
}

const nvcc = findNvcc();
const root = packageRoot();
const cudaDir = join(root, "native", "cuda");
const sources = existsSync(cudaDir) ? readdirSync(cudaDir).filter((f) => f.endsWith(".cu")).sort() : [];
if (!nvcc) console.warn("test/cuda: nvcc not found (set NVCC or install the CUDA toolkit): CUDA compile checks skipped");

describe.skipIf(!nvcc)("CUDA sources compile with nvcc", () => {
    const out = mkdtempSync(join(tmpdir(), "entgguf-nvcc-"));
    afterAll(() => rmSync(out, { recursive: true, force: true }));

    it("finds the CUDA sources", () => {
        expect(sources).toContain("entq_cuda.cu");
        expect(sources).toContain("gpu_check.cu");
    });

    for (const file of sources) {
        it(`${file} for sm_80 and sm_90`, () => {
            const r = spawnSync(
                nvcc!,
                [
                    "-std=c++17", "-O3", "-c",
                    "-gencode=arch=compute_80,code=sm_80", "-gencode=arch=compute_90,code=sm_90",
                    "-Xptxas", "-v", "-I", join(root, "native"),
                    join(cudaDir, file), "-o", join(out, file + ".o")
                ],
                { encoding: "utf8", timeout: 900_000 }
            );
            const log = r.stdout + r.stderr;
            expect(r.status, log.slice(-4000)).toBe(0);
            // ptxas -v: "N bytes spill stores" per kernel and arch; the decode kernels (entq_cuda.cu) keep none on sm_90
            if (file === "entq_cuda.cu") {
                const sm90 = log.split("Compiling entry function").filter((s) => s.includes("for 'sm_90'"));
                expect(sm90.length).toBeGreaterThan(10);
                const spills = sm90.filter((s) => /[1-9]\d* bytes spill stores/.test(s));
                expect(spills.map((s) => s.slice(0, 120)), "kernels spilling registers on sm_90").toEqual([]);
            }
        }, 900_000);
    }
});
