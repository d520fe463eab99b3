// Converter benchmark: a seeded synthetic Llama-shaped F16 model of ~1 B
// parameters (made once, cached in .cache/), converted side by side in one
// run: the default --bits mode (one lambda for the model, found from row
// samples) and a fixed lambda at the rate it found, at each thread count.
// Every conversion runs in its own process, so peak RSS is its own.
// Usage: npm run bench:convert [-- --bits 2.5 --threads 1,2 --rounds 1 --model file.gguf --source-head]
// --source-head: keep the output head and token embeddings at source precision (the default before issue 22).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { makeSyntheticModel, SYNTHETIC_1B } from "../src/bench/makeSyntheticModel.js";
import { convertModel, type ConvertSummary } from "../src/convert/convertModel.js";
import { packageRoot } from "../src/native/binding.js";

const { values } = parseArgs({
    options: {
        bits: { type: "string", default: "2.5" },
        threads: { type: "string", default: "1,2" },
        rounds: { type: "string", default: "1" },
        model: { type: "string" },
        "source-head": { type: "boolean", default: false },
        one: { type: "string" }
    }
});
const cache = join(packageRoot(), ".cache", "bench");

interface Run {
    mode: "bits" | "lambda";
    threads: number;
    bits?: number;
    lambda?: number;
    sourceHead?: boolean;
}

// child: one conversion, its summary as JSON on stdout
if (values.one) {
    const run = JSON.parse(values.one) as Run & { model: string; out: string };
    const s = await convertModel(run.model, run.out, {
        ...(run.mode === "bits" ? { bits: run.bits } : { lambda: run.lambda }),
        threads: run.threads,
        ...(run.sourceHead ? { embeddings: false, outputHead: false } : {}),
        progress: false
    });
    rmSync(run.out, { force: true });
    process.stdout.write(JSON.stringify(s));
    process.exit(0);
}

mkdirSync(cache, { recursive: true });
const model = values.model ?? join(cache, "synthetic-1b-f16.gguf");
if (!values.model && !existsSync(model)) {
    console.log(`making ${model} (seeded, ~2 GB, once)...`);
    const t = performance.now();
    const params = await makeSyntheticModel(model, SYNTHETIC_1B);
    console.log(`  ${(params / 1e9).toFixed(3)} B parameters in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const bits = Number(values.bits);
const threads = values.threads.split(",").map(Number);
const rounds = Number(values.rounds);
const out = join(cache, `bench-convert-${process.pid}.gguf`);

function convertOnce(run: Run): ConvertSummary {
    const json = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--one", JSON.stringify({ ...run, sourceHead: values["source-head"], model, out })], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
        maxBuffer: 64 << 20
    });
    return JSON.parse(json) as ConvertSummary;
}

console.log(`machine: ${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores; load average before: ${loadavg()[0]!.toFixed(2)}`);
console.log(`model: ${model} (${(statSync(model).size / 1e9).toFixed(2)} GB); target ${bits} bits/weight${values["source-head"] ? " (output head and token embeddings at source precision)" : ""}; ${rounds} round(s), threads ${threads.join(", ")}\n`);
const results: { run: Run; s: ConvertSummary }[] = [];
for (let r = 0; r < rounds; r++)
    for (const t of threads) {
        // the target first: the fixed lambda is the one it found (equal rate)
        const target = convertOnce({ mode: "bits", threads: t, bits });
        const fixed = convertOnce({ mode: "lambda", threads: t, lambda: target.rateSearch!.lambda });
        results.push({ run: { mode: "bits", threads: t, bits }, s: target }, { run: { mode: "lambda", threads: t, lambda: target.rateSearch!.lambda }, s: fixed });
        console.log(`round ${r + 1}, ${t} thread(s): --bits ${target.seconds.toFixed(1)} s, --lambda ${fixed.seconds.toFixed(1)} s`);
    }

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)]!;
console.log(`\n| mode | threads | time s (median) | M weights/s | vs fixed lambda | vs 1 thread | bits/weight | peak RSS MB | lambda search s | re-aims |`);
console.log(`|---|---|---|---|---|---|---|---|---|---|`);
const secs = (mode: string, t: number) => median(results.filter((x) => x.run.mode === mode && x.run.threads === t).map((x) => x.s.seconds));
for (const t of threads)
    for (const mode of ["bits", "lambda"] as const) {
        const rs = results.filter((x) => x.run.mode === mode && x.run.threads === t);
        const s = rs[0]!.s;
        const time = secs(mode, t);
        const label = mode === "bits" ? `--bits ${bits}` : `--lambda ${rs[0]!.run.lambda!.toFixed(2)}`;
        const search = s.rateSearch ? median(rs.map((x) => x.s.rateSearch!.seconds)).toFixed(1) : "";
        const reaims = s.rateSearch ? s.rateSearch.reaims.map((a) => `${a.lambda.toFixed(2)} after ${a.afterTensors}`).join("; ") || "none" : "";
        const vsOne = threads.includes(1) ? (secs(mode, 1) / time).toFixed(2) : "";
        console.log(
            `| ${label} | ${t} | ${time.toFixed(1)} | ${(s.codedElements / time / 1e6).toFixed(1)} | ${(time / secs("lambda", t)).toFixed(2)} | ${vsOne} | ${s.bitsPerWeight.toFixed(4)} | ${(Math.max(...rs.map((x) => x.s.peakRssBytes)) / 1e6).toFixed(0)} | ${search} | ${reaims} |`
        );
    }
console.log(`\nload average after: ${loadavg()[0]!.toFixed(2)}; fallbacks: ${results[0]!.s.fallbacks.join(", ") || "none"}`);
