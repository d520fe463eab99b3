import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { packageRoot } from "../../src/native/binding.js";

// scripts/sassCount.mjs (npm run bench:cuda-sass): the SASS instruction count per decoded weight of
// the CUDA GEMVs' inner loops, a benchmark that needs nvcc and cuobjdump but no GPU. Checked here:
// it builds, disassembles, finds every kernel's decode loop and prints a positive count; the
// numbers themselves are recorded in docs/BENCHMARKS.md, not asserted.
const root = packageRoot();
const script = join(root, "scripts", "sassCount.mjs");

function works(cmd: string, args: string[]): boolean {
    return spawnSync(cmd, args, { encoding: "utf8" }).status === 0;
}
const nvcc = [process.env.NVCC, "nvcc", "/usr/local/cuda/bin/nvcc"].find((c): c is string => !!c && works(c, ["--version"]));
const toolkitBin = nvcc ? spawnSync("sh", ["-c", `dirname "$(readlink -f "$(command -v ${nvcc})")"`], { encoding: "utf8" }).stdout.trim() : "";
const cuobjdump = [process.env.CUOBJDUMP, toolkitBin && join(toolkitBin, "cuobjdump"), "cuobjdump", join(root, ".cache", "cuda-binutils", "bin", "cuobjdump")]
    .find((c): c is string => !!c && works(c, ["--version"]));
if (!nvcc) console.warn("test/cuda/sassCount: nvcc not found: the SASS count check is skipped");
else if (!cuobjdump) console.warn("test/cuda/sassCount: cuobjdump not found (run scripts/fetch-cuda-binutils.sh): the SASS count check is skipped");

interface Result { label: string; error?: string; instructions?: number; weightsPerLane?: number; perWeight?: number; batch: number }

describe.skipIf(!nvcc || !cuobjdump)("SASS instructions per decoded weight (scripts/sassCount.mjs)", () => {
    it("finds each GEMV's decode loop and counts it", () => {
        expect(existsSync(script)).toBe(true);
        const r = spawnSync(process.execPath, [script, "--json"], { encoding: "utf8", timeout: 600_000, env: { ...process.env, NVCC: nvcc, CUOBJDUMP: cuobjdump } });
        expect(r.status, r.stderr.slice(-3000)).toBe(0);
        const results = JSON.parse(r.stdout) as Result[];
        expect(results.map((x) => x.label)).toEqual(expect.arrayContaining([expect.stringMatching(/^before:/), expect.stringMatching(/^after:/)]));
        for (const x of results) {
            expect(x.error, x.label).toBeUndefined();
            expect(x.weightsPerLane, x.label).toBeGreaterThan(0);
            expect(x.instructions!, x.label).toBeGreaterThan(x.weightsPerLane!);
            expect(x.perWeight, x.label).toBeGreaterThan(1);
            expect(Number.isFinite(x.perWeight)).toBe(true);
        }
    }, 600_000);
});
