import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { expect, it } from "vitest";

import { repoRoot } from "../helpers/sharedData.js";

// A short bounded pass of the native fuzz harnesses (native/fuzz, scripts/fuzz.sh): a few seconds
// per target with ASan and UBSan, on seeds coded by the encoder (and stories260K when at hand).
// The full pass is `bash scripts/fuzz.sh --runs 1000000` (docs/BENCHMARKS.md, "Fuzzing").
const SECONDS_PER_TARGET = 3;
const TARGETS = ["stream_parse", "reference_decode", "avx2_decode", "cpu_repack", "encode", "quantize"];

/** Why the pass cannot run here (no Clang whose -fsanitize=fuzzer links), or undefined. */
function missingLibFuzzer(): string | undefined {
    const probe = spawnSync("bash", ["-c",
        "for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do command -v $c >/dev/null && " +
        "echo 'extern \"C\" int LLVMFuzzerTestOneInput(const unsigned char *, unsigned long) { return 0; }' | " +
        "$c -x c++ - -fsanitize=fuzzer,address,undefined -o /dev/null 2>/dev/null && exit 0; done; exit 1"], { encoding: "utf8" });
    return probe.status === 0 ? undefined : "skipped: no Clang with libFuzzer (apt-get install clang); .ci/run installs it where apt runs as root";
}

const missing = process.platform === "win32" ? "skipped: the fuzz harnesses build with Clang on Linux/macOS" : missingLibFuzzer();

it.skipIf(missing)(`native fuzz harnesses, ${SECONDS_PER_TARGET} s each: no crash, no sanitizer report ${missing ?? ""}`, () => {
    const r = spawnSync("bash", [join(repoRoot, "scripts", "fuzz.sh"), "--fresh", "--seconds", String(SECONDS_PER_TARGET)], { cwd: repoRoot, encoding: "utf8", timeout: 900_000 });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    expect(r.status, "scripts/fuzz.sh failed: see its output above (inputs under build/fuzz/crashes/)").toBe(0);
    for (const t of TARGETS) {
        const line = r.stdout.split("\n").find((l) => l.startsWith(`${t} `));
        expect(line, `no result line for ${t}`).toBeDefined();
        const [, executions, , , crashes] = line!.trim().split(/\s+/);
        expect(Number(executions), `${t} executions`).toBeGreaterThan(100);
        expect(crashes, `${t} crashes`).toBe("0");
    }
}, 900_000);
