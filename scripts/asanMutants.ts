// The mutated-file pass through a sanitizer build of the patched llama.cpp (run by scripts/asan-mutants.sh, which
// builds it): the mutants of src/mutants/makeMutants.ts, each loaded by native/ggml/test/llama_load_check in a
// process of its own. Outcomes: the original's logits ("same"), other logits ("different"), refused (exit 2), a
// sanitizer report or a signal ("crash"), no answer within the timeout ("hang"), anything else ("error").
// Usage: node dist/scripts/asanMutants.js --loader <llama_load_check> [--flips N] [--truncations N|all] [--seed S] [--rans] [--keep]
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { convertModel } from "../src/convert/convertModel.js";
import { demoModelPath } from "../src/demo/demoModelPath.js";
import { formatMutantCounts } from "../src/mutants/formatMutantCounts.js";
import { makeMutants } from "../src/mutants/makeMutants.js";
import type { MutantResult } from "../src/mutants/runMutants.js";

const { values: args } = parseArgs({
    options: {
        loader: { type: "string" },
        flips: { type: "string", default: "24" },
        truncations: { type: "string", default: "all" },
        seed: { type: "string", default: "17" },
        timeout: { type: "string", default: "120" },
        rans: { type: "boolean", default: false },
        keep: { type: "boolean", default: false }
    }
});
if (!args.loader) throw new Error("--loader <llama_load_check> is required (scripts/asan-mutants.sh builds it)");
const loader = args.loader;
const env = { ...process.env, ...(args.rans ? { ENTGGUF_CPU_LAYOUT: "0" } : {}) };
const SANITIZER = /ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer|UndefinedBehaviorSanitizer/;

function load(file: string, tokens?: string) {
    const t0 = performance.now();
    const r = spawnSync(loader, tokens ? [file, tokens] : [file], { encoding: "utf8", env, timeout: Number(args.timeout) * 1000, maxBuffer: 1 << 26 });
    return { ...r, ms: Math.round(performance.now() - t0) };
}

const dir = mkdtempSync(join(tmpdir(), "entgguf-asan-mutants-"));
const original = join(dir, "original.gguf");
await convertModel(demoModelPath(), original, { bits: 3, segmentSymbols: 1024, progress: false });
const ref = load(original);
const tokens = /^tokens (\S+)$/m.exec(ref.stdout)?.[1];
const logits = /^logits (\S+ \d+)$/m.exec(ref.stdout)?.[1];
if (ref.status !== 0 || !tokens || !logits) throw new Error(`${loader} failed on the original (exit ${ref.status ?? ref.signal}):\n${ref.stdout}\n${ref.stderr}`);
console.log(`original: tokens ${tokens}; logits ${logits}; ${ref.ms} ms`);

const mutants = await makeMutants(original, dir, {
    seed: Number(args.seed),
    flips: Number(args.flips),
    truncations: args.truncations === "all" ? "all" : Number(args.truncations)
});
console.log(`${mutants.length} mutated files${args.rans ? " (rANS path: ENTGGUF_CPU_LAYOUT=0)" : ""}, one ${loader} process each`);
const t0 = performance.now();
const results: MutantResult[] = [];
let reports = 0;
for (const mutant of mutants) {
    const r = load(mutant.file, tokens);
    const sanitizer = SANITIZER.test(r.stderr);
    reports += sanitizer ? 1 : 0;
    const tail = (s: string) => s.trim().split("\n").slice(-12).join("\n");
    let result: MutantResult;
    if (sanitizer || (r.signal && r.error === undefined)) result = { mutant, outcome: "crash", message: `exit ${r.signal ?? r.status}: ${tail(r.stderr)}`, ms: r.ms };
    else if (r.error) result = { mutant, outcome: "hang", message: String(r.error), ms: r.ms };
    else if (r.status === 2) result = { mutant, outcome: "refused", stage: "llama.cpp", message: r.stdout.replace(/^refused: /, "").trim(), ms: r.ms };
    else if (r.status === 0) result = { mutant, outcome: /^logits (\S+ \d+)$/m.exec(r.stdout)?.[1] === logits ? "same" : "different", ms: r.ms };
    else result = { mutant, outcome: "error", message: `exit ${r.status}: ${tail(r.stdout + r.stderr)}`, ms: r.ms };
    results.push(result);
}
console.log(formatMutantCounts(results));
const unnamed = results.filter((r) => r.outcome === "refused" && !r.message?.includes(r.mutant.file));
const bad = results.filter((r) => !["same", "refused"].includes(r.outcome) || (r.mutant.inStream && r.outcome !== "refused"));
for (const r of bad) console.log(`FAIL ${r.outcome}: ${r.mutant.kind}: ${r.mutant.what} (${r.mutant.file})\n  ${r.message ?? ""}`);
for (const r of unnamed.slice(0, 5)) console.log(`refusal not naming the file: ${r.mutant.what}: ${r.message}`);
console.log(`sanitizer reports: ${reports}; refusals not naming the file: ${unnamed.length}; failures: ${bad.length}; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
if (args.keep) console.log(`files kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
process.exitCode = bad.length || reports ? 1 : 0;
