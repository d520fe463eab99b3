import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { packageRoot } from "../../src/native/binding.js";
import { resolveEntLlamaBuild } from "../../src/runtime/buildLlama.js";

// Every CUDA source in native/cuda compiles for Ampere (sm_80) and Hopper
// (sm_90) with the nvcc at hand; the decode kernels must not spill registers
// on sm_90. No GPU is needed (the kernels' schedule is tested on the CPU by
// native/test/cuda_lane_test.cpp; GPU runs: scripts/gpu-check.sh).
// The ggml glue (entq_ggml_cuda.cu) and the patched ggml-cuda.cu compile
// against the patched llama.cpp source; they include cublas_v2.h, taken from
// the CUDA toolkit or from scripts/fetch-cublas-headers.sh (CI runs it).

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

/** A folder with cublas_v2.h: the toolkit's (beside nvcc) or scripts/fetch-cublas-headers.sh's. */
function findCublasInclude(): string | undefined {
    const toolkit = nvcc ? spawnSync("sh", ["-c", `dirname "$(dirname "$(readlink -f "$(command -v ${nvcc})")")"`], { encoding: "utf8" }).stdout.trim() : "";
    const dirs = [process.env.CUBLAS_INCLUDE, toolkit && join(toolkit, "include"), join(root, ".cache", "cublas-headers", "include")];
    return dirs.find((d): d is string => !!d && existsSync(join(d, "cublas_v2.h")));
}
const cublasInclude = findCublasInclude();
if (nvcc && !cublasInclude)
    console.warn("test/cuda: no cublas_v2.h (run scripts/fetch-cublas-headers.sh): the ggml-cuda glue compile checks are skipped");
const GLUE = "entq_ggml_cuda.cu";

describe.skipIf(!nvcc)("CUDA sources compile with nvcc", () => {
    const out = mkdtempSync(join(tmpdir(), "entgguf-nvcc-"));
    afterAll(() => rmSync(out, { recursive: true, force: true }));

    it("finds the CUDA sources", () => {
        expect(sources).toContain("entq_cuda.cu");
        expect(sources).toContain("entq_tile_cuda.cu");
        expect(sources).toContain("gpu_check.cu");
    });

    // what ggml-cuda's CMake passes (ggml/src/ggml-cuda/CMakeLists.txt, patch 0004's include folder)
    let ggmlFlags: string[] = [];
    let llamaSource = "";
    const ggmlCuda = async () => {
        if (!ggmlFlags.length) {
            const src = (llamaSource = (await resolveEntLlamaBuild({ gpu: "cuda" })).source.dir);
            ggmlFlags = ["-use_fast_math", "-extended-lambda", "-DGGML_CUDA_USE_GRAPHS", "-I", join(src, "ggml", "include"),
                "-I", join(src, "ggml", "src"), "-I", join(src, "ggml", "src", "ggml-cuda"), "-I", cublasInclude!];
        }
        return ggmlFlags;
    };
    const compile = (file: string, extra: string[]) =>
        spawnSync(
            nvcc!,
            [
                "-std=c++17", "-O3", "-c",
                "-gencode=arch=compute_80,code=sm_80", "-gencode=arch=compute_90,code=sm_90",
                "-Xptxas", "-v", "-I", join(root, "native"), ...extra,
                file, "-o", join(out, file.replace(/[/\\]/g, "_") + ".o")
            ],
            { encoding: "utf8", timeout: 900_000 }
        );

    it.skipIf(!cublasInclude)("the patched ggml-cuda.cu (patch 0004's dispatch, supports_op, offload, graph check; patch 0010's MUL_MAT_ID and 0011's GET_ROWS dispatch)", async () => {
        const flags = await ggmlCuda();
        const cu = join(llamaSource, "ggml", "src", "ggml-cuda", "ggml-cuda.cu");
        expect(readFileSync(cu, "utf8")).toContain("entq_ggml_cuda_mul_mat(ctx, src0, src1, dst)");
        expect(readFileSync(cu, "utf8")).toContain("entq_ggml_cuda_mul_mat_id(ctx, dst)");
        expect(readFileSync(cu, "utf8")).toContain("entq_ggml_cuda_get_rows(ctx, dst)");
        const r = compile(cu, flags);
        expect(r.status, (r.stdout + r.stderr).slice(-4000)).toBe(0);
    }, 900_000);

    for (const file of sources) {
        it.skipIf(file === GLUE && !cublasInclude)(`${file} for sm_80 and sm_90`, async () => {
            const r = compile(join(cudaDir, file), file === GLUE ? await ggmlCuda() : []);
            const log = r.stdout + r.stderr;
            expect(r.status, log.slice(-4000)).toBe(0);
            // the glue's MUL_MAT_ID (routed experts' columns gathered and scattered around the coded multiply) is compiled in
            if (file === GLUE) expect(log).toMatch(/Compiling entry function '\w*gather_columns\w*' for 'sm_90'/);
            // and GET_ROWS on the CUDA layout (token embeddings)
            if (file === "entq_tile_cuda.cu") expect(log).toMatch(/Compiling entry function '\w*tile_get_rows_kernel\w*' for 'sm_90'/);
            // ptxas -v: "N bytes spill stores" per kernel and arch; the decode kernels (entq_cuda.cu,
            // entq_tile_cuda.cu) keep none on sm_90
            if (file === "entq_cuda.cu" || file === "entq_tile_cuda.cu") {
                const sm90 = log.split("Compiling entry function").filter((s) => s.includes("for 'sm_90'"));
                expect(sm90.length).toBeGreaterThan(file === "entq_cuda.cu" ? 10 : 9);
                const spills = sm90.filter((s) => /[1-9]\d* bytes spill stores/.test(s));
                expect(spills.map((s) => s.slice(0, 120)), "kernels spilling registers on sm_90").toEqual([]);
            }
        }, 900_000);
    }
});
