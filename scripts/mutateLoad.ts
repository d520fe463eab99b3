// The mutated-file pass (issue 17, item 4), in full: every structure boundary of a coded stories260K cut off, and
// seeded bit flips in coded streams (fixed header; scales, table, index; payload), tensor infos and the vocabulary
// (src/mutants/makeMutants.ts), each loaded by a child process as an app would (src/mutants/runMutants.ts,
// scripts/loadMutants.mjs). Each file must load with exactly the original's logits or be refused with an error
// naming the file; a crash, a hang, other logits or another error fails the pass. The test command runs a seeded
// subset (test/runtime/mutatedFiles.test.ts); BENCHMARKS "Mutated files" has the full numbers.
// Usage: node dist/scripts/mutateLoad.js [--flips N] [--truncations N|all] [--seed S] [--rans] [--keep]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { convertModel } from "../src/convert/convertModel.js";
import { demoModelPath } from "../src/demo/demoModelPath.js";
import { formatMutantCounts } from "../src/mutants/formatMutantCounts.js";
import { makeMutants } from "../src/mutants/makeMutants.js";
import { runMutants } from "../src/mutants/runMutants.js";
import { getEntLlama } from "../src/runtime/getEntLlama.js";

const { values: args } = parseArgs({
    options: {
        flips: { type: "string", default: "24" },
        truncations: { type: "string", default: "all" },
        seed: { type: "string", default: "17" },
        rans: { type: "boolean", default: false },
        keep: { type: "boolean", default: false }
    }
});
const dir = mkdtempSync(join(tmpdir(), "entgguf-mutants-"));
const original = join(dir, "original.gguf");
await getEntLlama(); // builds the patched llama.cpp if missing, before the child needs it
await convertModel(demoModelPath(), original, { bits: 3, segmentSymbols: 1024, progress: false });
const mutants = await makeMutants(original, dir, {
    seed: Number(args.seed),
    flips: Number(args.flips),
    truncations: args.truncations === "all" ? "all" : Number(args.truncations)
});
console.log(`${mutants.length} mutated files of ${original}${args.rans ? " (rANS path: ENTGGUF_CPU_LAYOUT=0)" : ""}`);
const t0 = performance.now();
const results = await runMutants(original, mutants, { dir, env: args.rans ? { ENTGGUF_CPU_LAYOUT: "0" } : {}, timeoutMs: 120_000 });
console.log(formatMutantCounts(results));
const bad = results.filter((r) => !["same", "refused"].includes(r.outcome) || (r.outcome === "refused" && !r.message?.includes(r.mutant.file)));
for (const r of bad) console.log(`FAIL ${r.outcome}: ${r.mutant.kind}: ${r.mutant.what} (${r.mutant.file})\n  ${r.message ?? ""}`);
console.log(`${((performance.now() - t0) / 1000).toFixed(0)} s; ${bad.length} failures`);
if (args.keep) console.log(`files kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
process.exitCode = bad.length ? 1 : 0;
