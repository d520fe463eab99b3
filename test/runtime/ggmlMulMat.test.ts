// ggml-level test of GGML_TYPE_ENTQ (test-backend-ops style): native/cpu/test/entq_mul_mat_test.cpp,
// compiled against the patched build's own ggml libraries, compares mul_mat on coded weights with an
// f64 reference over the dequantised weights (K not a multiple of 32, N = 1, batch 1..512, NMSE < 1e-6), and
// mul_mat_id on coded stacks of experts the same way (rANS path and CPU layout; unrouted experts never decoded).
// Also native/ggml/entq_dequantize_gguf.cpp, the patched ggml's coded -> F32/F16 GGUF tool.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { beforeAll, describe, expect, it } from "vitest";

import { packageRoot } from "../../src/native/binding.js";
import { makeSyntheticModel } from "../../src/bench/makeSyntheticModel.js";
import { convertModel } from "../../src/convert/convertModel.js";
import { dequantizeModel } from "../../src/convert/dequantizeModel.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { buildLlama } from "../../src/runtime/buildLlama.js";

let exe = "";
let dequantizeExe = "";

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
    dequantizeExe = join(root, ".cache", "tests", `entq_dequantize_gguf-${build.buildId}`);
    execFileSync(
        process.env.CXX ?? "c++",
        ["-O2", "-std=c++17", "-I", join(build.source.dir, "ggml", "include"), "-I", join(root, "native"),
            join(root, "native", "ggml", "entq_dequantize_gguf.cpp"), ...libs, `-Wl,-rpath,${build.binaryDir}`, "-o", dequantizeExe],
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
        expect(out).toMatch(/^ok {3}entq_mul_mat_id_matches_f64_reference$/m);
        expect(out).toMatch(/^ok {3}entq_mul_mat_id_decodes_only_routed_experts$/m);
        const moe = [...out.matchAll(/^ {2}(rANS|CPU_ENTQ) +K=\d+ +Ne=\d+ +E=\d kind=\d T=(\d+) +xcols=\d threads=\d nmse=(\S+)$/gm)];
        expect(new Set(moe.map((c) => c[1]))).toEqual(new Set(["rANS", "CPU_ENTQ"]));
        expect(new Set(moe.map((c) => Number(c[2])))).toEqual(new Set([1, 3, 17]));
        for (const c of moe) expect(Number(c[3])).toBeLessThan(1e-6);
        expect(out).toMatch(/^11 passed, 0 failed$/m);
    });
});

describe("entq_dequantize_gguf (coded GGUF -> plain GGUF for llama.cpp's tools)", () => {
    it("writes exactly convert's --emit-dequantized tensors (F32) and refuses a corrupt stream", async () => {
        const dir = mkdtempSync(join(tmpdir(), "entgguf-deq-"));
        try {
            const model = join(dir, "m.gguf"), coded = join(dir, "c.gguf"), ref = join(dir, "ref.gguf"), out = join(dir, "out.gguf");
            await makeSyntheticModel(model, { layers: 2, dim: 64, ffn: 96, heads: 4, kvHeads: 2, vocab: 300, type: "f16", seed: 3 });
            await convertModel(model, coded, { bits: 3, threads: 1 });
            await dequantizeModel(coded, ref);
            const log = execFileSync(dequantizeExe, [coded, out, "--f32"], { encoding: "utf8" });
            expect(log).toMatch(/16 coded tensors as f32/); // 14 linear weights, the output head, the token embeddings
            const [a, b] = [await readGguf(out), await readGguf(ref)];
            try {
                expect(a.info.tensors.map((t) => t.name)).toEqual(b.info.tensors.map((t) => t.name));
                for (const t of a.info.tensors) {
                    const u = b.tensor(t.name)!;
                    expect([t.type, t.dims], t.name).toEqual([u.type, u.dims]);
                    expect((await a.readTensorData(t)).equals(await b.readTensorData(u)), t.name).toBe(true);
                }
                expect([...a.info.metadata.keys()].filter((k) => k.startsWith("entq."))).toEqual([]);
            } finally {
                await a.close();
                await b.close();
            }
            // a flipped payload byte of the first coded tensor: one error naming it, nothing written
            const c = await readGguf(coded);
            const first = c.info.tensors.find((t) => t.type === 100)!;
            const at = c.info.dataOffset + first.offset + first.byteSize - 8;
            await c.close();
            const bytes = readFileSync(coded);
            bytes[at] ^= 0x5a;
            writeFileSync(coded, bytes);
            rmSync(out);
            let err = "";
            try {
                execFileSync(dequantizeExe, [coded, out], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
            } catch (e) {
                err = String((e as { stderr?: string }).stderr);
            }
            expect(err).toMatch(new RegExp(`tensor '${first.name.replace(/\./g, "\\.")}': segment payload corrupt`));
            expect(readdirSync(dir).filter((f) => f.startsWith("out.gguf"))).toEqual([]);

            // a mixture-of-experts model: stacks of experts come out [K, N, E], as convert's twin has them
            const moe = join(dir, "moe.gguf"), moeCoded = join(dir, "moe-c.gguf"), moeRef = join(dir, "moe-ref.gguf"), moeOut = join(dir, "moe-out.gguf");
            await makeSyntheticModel(moe, { layers: 1, dim: 64, ffn: 96, heads: 4, kvHeads: 2, vocab: 300, type: "f16", seed: 4, experts: 4 });
            await convertModel(moe, moeCoded, { bits: 3, threads: 1 });
            await dequantizeModel(moeCoded, moeRef);
            execFileSync(dequantizeExe, [moeCoded, moeOut, "--f32"], { encoding: "utf8" });
            const [m, r] = [await readGguf(moeOut), await readGguf(moeRef)];
            try {
                expect(m.tensor("blk.0.ffn_down_exps.weight")!.dims).toEqual([96, 64, 4]);
                for (const t of m.info.tensors) {
                    const u = r.tensor(t.name)!;
                    expect([t.type, t.dims], t.name).toEqual([u.type, u.dims]);
                    expect((await m.readTensorData(t)).equals(await r.readTensorData(u)), t.name).toBe(true);
                }
            } finally {
                await m.close();
                await r.close();
            }
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    }, 120_000);
});

