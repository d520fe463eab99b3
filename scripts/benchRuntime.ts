// CPU runtime benchmark (issue 5): the seeded synthetic ~1 B-parameter Llama
// (src/bench/makeSyntheticModel, F16, cached in .cache/bench/) against its
// ENTQ conversion and a Q8_0 copy, all three through the patched llama.cpp
// (getEntLlama), in one process, in rounds that rotate the order of the models
// so that drift from neighbouring jobs hits all three alike. Per model and
// round: prompt tokens/s (one batch) and greedy generation tokens/s at batch 1.
// Usage: npm run bench:runtime [-- --bits 2.5 --threads 2 --tokens 64 --prompt 32 --rounds 3]
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import type { Llama, Token } from "node-llama-cpp";

import { makeSyntheticModel, SYNTHETIC_1B } from "../src/bench/makeSyntheticModel.js";
import { quantizeQ8_0 } from "../src/bench/quantizeQ8_0.js";
import { convertModel } from "../src/convert/convertModel.js";
import { packageRoot } from "../src/native/binding.js";
import { getEntLlama } from "../src/runtime/getEntLlama.js";

const { values } = parseArgs({
    options: {
        bits: { type: "string", default: "2.5" },
        threads: { type: "string", default: "2" },
        tokens: { type: "string", default: "64" },
        prompt: { type: "string", default: "32" },
        rounds: { type: "string", default: "3" }
    }
});
const bits = Number(values.bits);
const threads = Number(values.threads);
const genTokens = Number(values.tokens);
const promptTokens = Number(values.prompt);
const rounds = Number(values.rounds);

const cache = join(packageRoot(), ".cache", "bench");
mkdirSync(cache, { recursive: true });

/** Makes `file` with `make(tmp)` unless it exists; a failed or interrupted run leaves nothing under the name. */
async function cached(file: string, what: string, make: (tmp: string) => Promise<unknown>): Promise<string> {
    if (existsSync(file)) return file;
    console.log(`making ${file} (${what}, once)...`);
    const t = performance.now();
    const tmp = `${file}.partial`;
    await make(tmp);
    renameSync(tmp, file);
    console.log(`  done in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    return file;
}

const f16 = await cached(join(cache, "synthetic-1b-f16.gguf"), "seeded synthetic Llama, ~2 GB", (tmp) => makeSyntheticModel(tmp, SYNTHETIC_1B));
let entqBits: number | undefined;
const entq = await cached(join(cache, `synthetic-1b-entq-${bits}.gguf`), `ENTQ at ${bits} bits/weight`, async (tmp) => {
    entqBits = (await convertModel(f16, tmp, { bits, progress: false })).bitsPerWeight;
});
const q8 = await cached(join(cache, "synthetic-1b-q8_0.gguf"), "Q8_0, ggml's rounding", (tmp) => quantizeQ8_0(f16, tmp));

type Sample = { promptTps: number; genTps: number };
const models = [
    { name: "ENTQ", file: entq, samples: [] as Sample[] },
    { name: "Q8_0", file: q8, samples: [] as Sample[] },
    { name: "F16", file: f16, samples: [] as Sample[] }
];

async function measure(llama: Llama, file: string): Promise<Sample> {
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    try {
        const context = await model.createContext({ contextSize: 256, batchSize: Math.max(promptTokens, 1), sequences: 1, threads: { ideal: threads, min: threads } });
        const sequence = context.getSequence();
        // a fixed prompt of ordinary vocabulary tokens (the synthetic model's text is noise anyway)
        const prompt = [model.tokens.bos!, ...Array.from({ length: promptTokens - 1 }, (_, i) => (300 + 37 * i) % 2000)] as Token[];
        const t0 = performance.now();
        let tFirst = 0;
        let n = 0;
        // the first token costs the prompt (one batch) plus one step; the rest are batch-1 steps
        for await (const _ of sequence.evaluate(prompt, { temperature: 0 })) {
            if (++n === 1) tFirst = performance.now();
            if (n > genTokens) break;
        }
        const tEnd = performance.now();
        await context.dispose();
        return { promptTps: promptTokens / ((tFirst - t0) / 1000), genTps: genTokens / ((tEnd - tFirst) / 1000) };
    } finally {
        await model.dispose();
    }
}

const llama = await getEntLlama({ maxThreads: threads });
const loadBefore = loadavg();
const started = new Date();
for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < models.length; i++) {
        const m = models[(i + r) % models.length]!;
        const s = await measure(llama, m.file);
        m.samples.push(s);
        console.log(`round ${r + 1}: ${m.name.padEnd(4)} prompt ${s.promptTps.toFixed(1)} tok/s, generation ${s.genTps.toFixed(2)} tok/s`);
    }
}
const loadAfter = loadavg();

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const gb = (f: string) => statSync(f).size / 1e9;
const q8Gen = median(models[1]!.samples.map((s) => s.genTps));
console.log(
    `\n${started.toISOString()}; ${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores; threads ${threads}; ` +
        `prompt ${promptTokens} tokens, then ${genTokens} generated (greedy); median of ${rounds} rounds, order rotated each round`
);
console.log(`load average (1/5/15 min) before ${loadBefore.map((l) => l.toFixed(2)).join("/")}, after ${loadAfter.map((l) => l.toFixed(2)).join("/")}`);
if (entqBits !== undefined) console.log(`ENTQ coded weights: ${entqBits.toFixed(3)} bits/weight`);
console.log("\n| model | file (GB) | prompt tok/s | generation tok/s | generation vs Q8_0 | runs (generation tok/s) |");
console.log("|---|---|---|---|---|---|");
for (const m of models) {
    const gen = median(m.samples.map((s) => s.genTps));
    console.log(
        `| ${m.name} | ${gb(m.file).toFixed(3)} | ${median(m.samples.map((s) => s.promptTps)).toFixed(1)} | ${gen.toFixed(2)} | ` +
            `${(gen / q8Gen).toFixed(2)} | ${m.samples.map((s) => s.genTps.toFixed(2)).join(", ")} |`
    );
}
await llama.dispose();
