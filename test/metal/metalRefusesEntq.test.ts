import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { packageRoot } from "../../src/native/binding.js";
import { git } from "../../src/runtime/prepareLlamaSource.js";
import { buildLlama, resolveEntLlamaBuild } from "../../src/runtime/buildLlama.js";

// No Metal here, but the part of the Metal backend that decides what runs on
// the GPU (ggml_metal_device_supports_op and the mul_mat check it calls) is
// plain C: it is cut out of the patched ggml-metal-device.m, compiled with
// ggml's headers and ggml-metal-common.cpp, linked to the CPU build's
// libggml-base and asked about ENTQ weights. Patch 0005 must make it refuse
// them, so a Mac keeps coded weights on the CPU; the unpatched source, asked
// the same, accepts them (and would abort in its mul_mv switch).

const METAL_DEVICE = "ggml/src/ggml-metal/ggml-metal-device.m";
const harness = join(packageRoot(), "test", "metal", "harness");
let dir = "";
afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

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

describe("the patched Metal backend refuses ENTQ weights", () => {
    it("builds with Metal by default on macOS only, as its own build", async () => {
        const cpu = await resolveEntLlamaBuild({ gpu: false, log: () => {} });
        const metal = await resolveEntLlamaBuild({ gpu: "metal", log: () => {} });
        expect(metal.gpu).toBe("metal");
        expect(metal.buildId).not.toBe(cpu.buildId);
        expect((await resolveEntLlamaBuild({ log: () => {} })).gpu).toBe(process.platform === "darwin" ? "metal" : false);
    });

    it("supports_op: F16 accepted, ENTQ refused for mul_mat and get_rows; the unpatched source accepts ENTQ", async () => {
        const build = await buildLlama({ log: () => {} });
        const src = build.source.dir;
        const inc = ["ggml/include", "ggml/src", "ggml/src/ggml-metal"].flatMap((d) => ["-I", join(src, d)]);
        dir = mkdtempSync(join(tmpdir(), "entgguf-metal-"));
        const cxx = (out: string, file: string) => execFileSync("g++", ["-std=c++17", "-c", file, ...inc, "-o", join(dir, out)], { stdio: "pipe" });
        cxx("common.o", join(src, "ggml/src/ggml-metal/ggml-metal-common.cpp"));
        cxx("stub.o", join(harness, "stub.cpp"));
        const run = (name: string, deviceM: string): string => {
            const c = join(dir, `${name}.c`);
            writeFileSync(c, [readFileSync(join(harness, "prelude.h"), "utf8"), supportsOpSource(deviceM), readFileSync(join(harness, "main.c"), "utf8")].join("\n"));
            execFileSync("gcc", ["-std=gnu11", "-c", c, ...inc, "-o", join(dir, `${name}.o`)], { stdio: "pipe" });
            const exe = join(dir, name);
            const objs = [`${name}.o`, "common.o", "stub.o"].map((o) => join(dir, o));
            execFileSync("g++", [...objs, `-L${build.binaryDir}`, "-lggml-base", `-Wl,-rpath,${build.binaryDir}`, "-o", exe], { stdio: "pipe" });
            const r = spawnSync(exe, { encoding: "utf8" });
            expect(r.status, r.stderr).toBe(0);
            return r.stdout.trim();
        };
        expect(run("patched", readFileSync(join(src, METAL_DEVICE), "utf8"))).toBe("f16 mul_mat 1 get_rows 1; entq mul_mat 0 get_rows 0");
        expect(run("unpatched", git(src, ["show", `HEAD:${METAL_DEVICE}`]))).toBe("f16 mul_mat 1 get_rows 1; entq mul_mat 1 get_rows 1");
    });
});
