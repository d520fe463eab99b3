import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { packageRoot } from "../../src/native/binding.js";
import { git } from "../../src/runtime/prepareLlamaSource.js";
import { buildLlama, resolveEntLlamaBuild, type EntLlamaBuild } from "../../src/runtime/buildLlama.js";

// No Apple GPU or Metal compiler here, so the Metal backend is checked in the
// parts that are plain C and C++:
//  - supports_op: cut out of the patched ggml-metal-device.m (Objective-C
//    around plain C), compiled with ggml's headers, linked to the CPU build's
//    libraries and to our glue (native/metal/entq_ggml_metal.cpp) over a Metal
//    stand-in (harness/glue_stub.cpp);
//  - the glue harness: the glue with ggml-metal-device.cpp's real pipeline
//    getters, its multiplies run by the stand-in, whose encoder executes our
//    kernels through the MSL shim and ggml's mul_mm as a plain product;
//  - the patched ggml-metal C++ files and the glue, compiled -fsyntax-only
//    against the bundled sources;
//  - the kernels' MSL, syntax-checked by clang with MSL's address spaces as
//    clang address spaces (test/metal/msl/metal_stdlib).
// The kernels' arithmetic is tested in native/test/metal_shim_test.cpp.

const METAL = "ggml/src/ggml-metal";
const root = packageRoot();
const harness = join(root, "test", "metal", "harness");
let dir = "";
let build: EntLlamaBuild;
let src = "";
let inc: string[] = [];
afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
    build = await buildLlama({ log: () => {} });
    src = build.source.dir;
    dir = mkdtempSync(join(tmpdir(), "entgguf-metal-"));
    // the kernels' source as the patched CMake embeds it
    execFileSync("cmake", [`-DMETAL_DIR=${join(root, "native", "metal")}`, `-DOUT=${join(dir, "entq_metal_source.h")}`, "-P", join(root, "native", "metal", "embed_metal_source.cmake")]);
    inc = ["ggml/include", "ggml/src", METAL].map((d) => `-I${join(src, d)}`).concat([`-I${join(root, "native")}`, `-I${dir}`, `-I${harness}`]);
}, 1_200_000);

const cxx = (file: string, out: string, extra: string[] = []) =>
    execFileSync("g++", ["-std=c++17", "-O1", "-c", file, ...inc, ...extra, "-o", join(dir, out)], { stdio: "pipe" });
const link = (objs: string[], exe: string) =>
    execFileSync("g++", [...objs.map((o) => join(dir, o)), `-L${build.binaryDir}`, "-lggml-cpu", "-lggml-base", `-Wl,-rpath,${build.binaryDir}`, "-o", join(dir, exe)], {
        stdio: "pipe",
    });
/** The glue and what it links against on Linux: ggml-metal-device.cpp's pipeline getters, the tuning table, the stand-in. */
let glueObjs: string[] = [];
function buildGlue(): string[] {
    if (glueObjs.length) return glueObjs;
    cxx(join(root, "native", "metal", "entq_ggml_metal.cpp"), "glue.o");
    cxx(join(src, METAL, "ggml-metal-device.cpp"), "device.o");
    cxx(join(src, METAL, "ggml-metal-tuning.cpp"), "tuning.o");
    cxx(join(src, METAL, "ggml-metal-common.cpp"), "common.o");
    cxx(join(harness, "stub.cpp"), "stub.o");
    cxx(join(harness, "glue_stub.cpp"), "glue_stub.o");
    glueObjs = ["glue.o", "device.o", "tuning.o", "common.o", "stub.o", "glue_stub.o"];
    return glueObjs;
}

/** From the mul_mat helper through the end of ggml_metal_device_supports_op. */
function supportsOpSource(m: string): string {
    const start = m.indexOf("static bool ggml_metal_supports_mul_mat_op(");
    const fn = m.indexOf("bool ggml_metal_device_supports_op(ggml_metal_device_t dev", start);
    expect(start, "ggml_metal_supports_mul_mat_op in ggml-metal-device.m").toBeGreaterThan(0);
    expect(fn, "ggml_metal_device_supports_op in ggml-metal-device.m").toBeGreaterThan(start);
    const end = m.indexOf("\n}\n", fn);
    expect(end).toBeGreaterThan(fn);
    return m.slice(start, end + 3);
}

describe("the patched Metal backend", () => {
    it("builds with Metal by default on macOS only, as its own build", async () => {
        const cpu = await resolveEntLlamaBuild({ gpu: false, log: () => {} });
        const metal = await resolveEntLlamaBuild({ gpu: "metal", log: () => {} });
        expect(metal.gpu).toBe("metal");
        expect(metal.buildId).not.toBe(cpu.buildId);
        expect((await resolveEntLlamaBuild({ log: () => {} })).gpu).toBe(process.platform === "darwin" ? "metal" : false);
    });

    it("supports_op: ENTQ mul_mat only where our kernels built, get_rows refused, F16 untouched; the unpatched source accepts ENTQ", () => {
        const objs = buildGlue();
        const run = (name: string, deviceM: string): string => {
            const c = join(dir, `${name}.c`);
            writeFileSync(c, [readFileSync(join(harness, "prelude.h"), "utf8"), supportsOpSource(deviceM), readFileSync(join(harness, "main.c"), "utf8")].join("\n"));
            execFileSync("gcc", ["-std=gnu11", "-c", c, ...inc, "-o", join(dir, `${name}.o`)], { stdio: "pipe" });
            link([`${name}.o`, ...objs], name);
            const r = spawnSync(join(dir, name), { encoding: "utf8" });
            expect(r.status, r.stderr).toBe(0);
            return r.stdout.trim();
        };
        const patched = run("patched", readFileSync(join(src, METAL, "ggml-metal-device.m"), "utf8"));
        console.log(`patched:   ${patched}`);
        expect(patched).toBe("f16 mul_mat 1 get_rows 1; entq mul_mat 1 get_rows 0; kernels not built: entq mul_mat 0, f16 mul_mat 1");
        const unpatched = run("unpatched", git(src, ["show", `HEAD:${METAL}/ggml-metal-device.m`]));
        console.log(`unpatched: ${unpatched}`);
        expect(unpatched).toBe("f16 mul_mat 1 get_rows 1; entq mul_mat 1 get_rows 1; kernels not built: entq mul_mat 1, f16 mul_mat 1");
    }, 300_000);

    it("the glue runs every multiply path through our kernels, within NMSE 1e-6 of f64", () => {
        const objs = buildGlue();
        cxx(join(harness, "glue_main.cpp"), "glue_main.o");
        link([...objs, "glue_main.o"], "glue");
        const r = spawnSync(join(dir, "glue"), { encoding: "utf8" });
        process.stdout.write(r.stdout.split("\n").filter((l) => !l.startsWith("K=") || l.includes("B= 9x1")).join("\n") + "\n");
        expect(r.stdout).toContain("glue harness: all passed");
        expect(r.stdout).toMatch(/f16 rows \+ mul_mm \+ scale_rows\s+NMSE/);
        expect(r.stdout).toContain("supports_op on a device where the kernels do not build: 0");
        expect(r.status, r.stderr).toBe(0);
    }, 300_000);

    it("the patched ggml-metal C++ files and the glue compile against the bundled sources", () => {
        // upstream relies on Apple's libc++ including <memory> through other headers
        for (const f of ["ggml-metal-ops.cpp", "ggml-metal.cpp", "ggml-metal-device.cpp"].map((f) => join(src, METAL, f)).concat(join(root, "native", "metal", "entq_ggml_metal.cpp"))) {
            const r = spawnSync("g++", ["-std=c++17", "-fsyntax-only", "-Wall", "-include", "memory", f, ...inc], { encoding: "utf8" });
            expect(r.status, `${f}:\n${r.stderr}`).toBe(0);
        }
        // the hooks are where they must be
        expect(readFileSync(join(src, METAL, "ggml-metal-ops.cpp"), "utf8")).toContain("entq_ggml_metal_mul_mat(ctx->dev, lib, enc, op);");
        const backend = readFileSync(join(src, METAL, "ggml-metal.cpp"), "utf8");
        expect(backend).toContain("res += entq_ggml_metal_extra(tensor);");
        expect(backend.match(/entq_ggml_metal_forget\(/g)?.length).toBe(2);
        expect(readFileSync(join(src, METAL, "CMakeLists.txt"), "utf8")).toContain("metal/entq_ggml_metal.cpp");
    }, 300_000);

    const clang = spawnSync("clang++", ["--version"]).status === 0;
    it.skipIf(!clang)("the kernels' MSL passes clang's syntax check with MSL address spaces", () => {
        const r = spawnSync(
            "clang++",
            ["-std=c++14", "-fsyntax-only", "-Wall", "-Wno-unknown-attributes", "-D__METAL_VERSION__=300", "-isystem", join(root, "test", "metal", "msl"), "-x", "c++", join(root, "native", "metal", "entq_tile.metal")],
            { encoding: "utf8" },
        );
        expect(r.status, r.stderr).toBe(0);
        // and it would catch a pointer that loses its address space
        const bad = join(dir, "entq_tile_bad.metal");
        writeFileSync(bad, readFileSync(join(root, "native", "metal", "entq_tile.metal"), "utf8").replace("device const ushort *run;", "const ushort *run;"));
        const b = spawnSync("clang++", ["-std=c++14", "-fsyntax-only", "-Wno-unknown-attributes", "-D__METAL_VERSION__=300", "-isystem", join(root, "test", "metal", "msl"), `-I${join(root, "native", "metal")}`, "-x", "c++", bad], { encoding: "utf8" });
        expect(b.status).not.toBe(0);
        expect(b.stderr).toContain("changes address space of pointer");
    });
    if (!clang) console.warn("metalBackend: the MSL syntax check is skipped: clang++ is not installed (apt install clang)");
});
