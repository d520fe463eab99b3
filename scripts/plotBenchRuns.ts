// One plot of several `entgguf bench` runs of the same source (e.g. the converter's default against a variant):
// their artefacts side by side, a coded version per run and method, peers and the source once.
// Usage: npm run bench:plot -- <out-prefix> <bench-out-dir>[=<name>] <bench-out-dir>[=<name>] [...]
// (<name>: what the run's coded versions are called in the legend, instead of their method)
import { readFileSync } from "node:fs";
import { join } from "node:path";

import type { BenchResults } from "../src/bench/BenchResults.js";
import { plotResults } from "../src/bench/plotResults.js";

const [prefix, ...dirs] = process.argv.slice(2);
if (!prefix || dirs.length < 1) {
    console.error("usage: npm run bench:plot -- <out-prefix> <bench-out-dir>[=<name>] [<bench-out-dir>[=<name>] ...]");
    process.exit(2);
}
const runs = dirs.map((arg) => {
    const [dir, name] = arg.split("=", 2) as [string, string | undefined];
    const r = JSON.parse(readFileSync(join(dir, "results.json"), "utf8")) as BenchResults;
    if (name) r.artefacts = r.artefacts.map((a) => (a.kind === "entq" ? { ...a, method: name } : a));
    return r;
});
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
