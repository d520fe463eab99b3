// One plot of several `entgguf bench` runs of the same source (e.g. the converter's default against a variant):
// their artefacts side by side, a coded version per run and method, peers and the source once.
// Usage: npm run bench:plot -- <out-prefix> <bench-out-dir> <bench-out-dir> [...]
import { readFileSync } from "node:fs";
import { join } from "node:path";

import type { BenchResults } from "../src/bench/BenchResults.js";
import { plotResults } from "../src/bench/plotResults.js";

const [prefix, ...dirs] = process.argv.slice(2);
if (!prefix || dirs.length < 1) {
    console.error("usage: npm run bench:plot -- <out-prefix> <bench-out-dir> [<bench-out-dir> ...]");
    process.exit(2);
}
const runs = dirs.map((d) => JSON.parse(readFileSync(join(d, "results.json"), "utf8")) as BenchResults);
const merged: BenchResults = { ...runs[0]!, artefacts: [] };
const seen = new Set<string>();
for (const r of runs)
    for (const a of r.artefacts) {
        // the coded versions differ by method (e.g. "entgguf FP8 (embeddings, output head at source precision)")
        const key = `${a.method}\0${a.label}`;
        if (seen.has(key)) continue;
        seen.add(key);
        merged.artefacts.push(a);
    }
console.log((await plotResults(merged, prefix)).join("\n"));
