// CPU runtime benchmark (issue 14): the seeded synthetic ~1 B-parameter Llama (src/bench/makeSyntheticModel,
// F16, cached in .cache/bench/) as ENTQ on the CPU layout, ENTQ on the rANS path (ENTGGUF_CPU_LAYOUT=0), Q8_0,
// Q4_K_M (llama-quantize from `entgguf build --tools`) and F16, all through the patched llama.cpp (getEntLlama).
// Every measurement runs in its own process (the layout switch is read when ggml-cpu starts), in rounds that
// rotate the order of the models so that drift from neighbouring jobs hits all alike. Per model and round:
// load time, prompt tokens/s (one batch) and greedy generation tokens/s at batch 1; for ENTQ also what the
// CPU_ENTQ buffer reports (coded weights in memory vs in the file, repack time).
// Usage: npm run bench:runtime [-- --bits 2.5 --threads 2 --tokens 64 --prompt 128 --rounds 3 --models ENTQ,ENTQ-rANS,Q8_0,Q4_K_M,F16]
// --moe: the synthetic mixture-of-experts model instead (SYNTHETIC_MOE: 8 experts, 2 used, experts coded through MUL_MAT_ID).
// (also ENTQ-unverified and ENTQ-rANS-unverified: ENTGGUF_VERIFY=0, for the load-time checksum's cost)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { LlamaLogLevel, type Token } from "node-llama-cpp";

import { makeSyntheticModel, SYNTHETIC_1B, SYNTHETIC_MOE } from "../src/bench/makeSyntheticModel.js";
import { quantizeQ8_0 } from "../src/bench/quantizeQ8_0.js";
import { convertModel } from "../src/convert/convertModel.js";
import { packageRoot } from "../src/native/binding.js";
import { buildLlamaTools } from "../src/runtime/buildLlamaTools.js";
import { getEntLlama } from "../src/runtime/getEntLlama.js";

const { values } = parseArgs({
    options: {
        bits: { type: "string", default: "2.5" },
        threads: { type: "string", default: "2" },
        tokens: { type: "string", default: "64" },
        prompt: { type: "string", default: "128" },
        rounds: { type: "string", default: "3" },
        moe: { type: "boolean", default: false },
        models: { type: "string", default: "ENTQ,ENTQ-rANS,Q8_0,Q4_K_M,F16" },
        child: { type: "string" } // internal: measure this file once and print one JSON line
    }
});
const threads = Number(values.threads);
const genTokens = Number(values.tokens);
const promptTokens = Number(values.prompt);

type Sample = { loadSeconds: number; promptTps: number; genTps: number; entqLog?: string };

/** One model, one process: load, a prompt of promptTokens in one batch, then genTokens at batch 1. */
async function measureChild(file: string): Promise<Sample> {
    const llama = await getEntLlama({ maxThreads: threads });
    let entqLog: string | undefined;
    llama.logLevel = LlamaLogLevel.info; // the CPU_ENTQ report is an info line; nothing else is printed
    llama.logger = (_level, message) => {
        if (message.startsWith("entq: CPU layout")) entqLog = message.trim();
    };
    const t0 = performance.now();
    const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    const loadSeconds = (performance.now() - t0) / 1000;
    const context = await model.createContext({ contextSize: 512, batchSize: Math.max(promptTokens, 1), sequences: 1, threads: { ideal: threads, min: threads } });
    const sequence = context.getSequence();
    // a fixed prompt of ordinary vocabulary tokens (the synthetic model's text is noise anyway)
    const prompt = [model.tokens.bos!, ...Array.from({ length: promptTokens - 1 }, (_, i) => (300 + 37 * i) % 2000)] as Token[];
    const t1 = performance.now();
    let tFirst = 0;
    let n = 0;
    // the first token costs the prompt (one batch) plus one step; the rest are batch-1 steps
    for await (const _ of sequence.evaluate(prompt, { temperature: 0 })) {
        if (++n === 1) tFirst = performance.now();
        if (n > genTokens) break;
    }
    const tEnd = performance.now();
    await context.dispose();
    await model.dispose();
    await llama.dispose();
    return { loadSeconds, promptTps: promptTokens / ((tFirst - t1) / 1000), genTps: genTokens / ((tEnd - tFirst) / 1000), entqLog };
}

if (values.child) {
    process.stdout.write(`\n${JSON.stringify(await measureChild(values.child))}\n`);
    process.exit(0);
}

const bits = Number(values.bits);
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

const base = values.moe ? "synthetic-moe" : "synthetic-1b";
const f16 = await cached(join(cache, `${base}-f16.gguf`), values.moe ? "seeded synthetic MoE Llama, 8 experts, ~0.16 GB" : "seeded synthetic Llama, ~2 GB", (tmp) =>
    makeSyntheticModel(tmp, values.moe ? SYNTHETIC_MOE : SYNTHETIC_1B)
);
const entq = await cached(join(cache, `${base}-entq-${bits}.gguf`), `ENTQ at ${bits} bits/weight`, (tmp) => convertModel(f16, tmp, { bits, progress: false }));
const q8 = await cached(join(cache, `${base}-q8_0.gguf`), "Q8_0, ggml's rounding", (tmp) => quantizeQ8_0(f16, tmp));
const wanted = values.models.split(",");
const q4 = wanted.includes("Q4_K_M")
    ? await cached(join(cache, `${base}-q4_k_m.gguf`), "Q4_K_M by llama-quantize", async (tmp) => {
          const tools = await buildLlamaTools({ log: (m) => console.log(`[entgguf] ${m}`) });
          execFileSync(tools.tools["llama-quantize"], [f16, tmp, "Q4_K_M", String(availableParallelism())], { stdio: "ignore" });
      })
    : "";
await getEntLlama({ maxThreads: threads }).then((l) => l.dispose()); // builds the runtime once, before any timing

const all: { name: string; file: string; env: Record<string, string> }[] = [
    { name: "ENTQ", file: entq, env: {} },
    { name: "ENTQ-rANS", file: entq, env: { ENTGGUF_CPU_LAYOUT: "0" } },
    // without the load-time checksum (what it costs: load time beside the two above)
    { name: "ENTQ-unverified", file: entq, env: { ENTGGUF_VERIFY: "0" } },
    { name: "ENTQ-rANS-unverified", file: entq, env: { ENTGGUF_CPU_LAYOUT: "0", ENTGGUF_VERIFY: "0" } },
    { name: "Q8_0", file: q8, env: {} },
    { name: "Q4_K_M", file: q4, env: {} },
    { name: "F16", file: f16, env: {} }
];
const models = all.filter((m) => wanted.includes(m.name)).map((m) => ({ ...m, samples: [] as Sample[] }));

const self = fileURLToPath(import.meta.url);
function measure(file: string, env: Record<string, string>): Sample {
    const args = [self, "--child", file, "--threads", String(threads), "--tokens", String(genTokens), "--prompt", String(promptTokens)];
    const out = execFileSync(process.execPath, args, { env: { ...process.env, ...env }, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 1 << 26 });
    return JSON.parse(out.trim().split("\n").pop()!) as Sample;
}

const loadBefore = loadavg();
const started = new Date();
for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < models.length; i++) {
        const m = models[(i + r) % models.length]!;
        const s = measure(m.file, m.env);
        m.samples.push(s);
        console.log(`round ${r + 1}: ${m.name.padEnd(20)} load ${s.loadSeconds.toFixed(2)} s, prompt ${s.promptTps.toFixed(1)} tok/s, generation ${s.genTps.toFixed(2)} tok/s`);
    }
}
const loadAfter = loadavg();

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const gb = (f: string) => statSync(f).size / 1e9;
const ref = models.find((m) => m.name === "Q8_0");
const q8Gen = ref ? median(ref.samples.map((s) => s.genTps)) : NaN;
const q8Prompt = ref ? median(ref.samples.map((s) => s.promptTps)) : NaN;
console.log(
    `\n${started.toISOString()}; ${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores; threads ${threads}; ` +
        `${values.moe ? "synthetic MoE (8 experts, 2 used); " : ""}prompt ${promptTokens} tokens in one batch, then ${genTokens} generated (greedy); median of ${rounds} rounds, order rotated each round, one process per run`
);
console.log(`load average (1/5/15 min) before ${loadBefore.map((l) => l.toFixed(2)).join("/")}, after ${loadAfter.map((l) => l.toFixed(2)).join("/")}`);
const layoutLog = models.find((m) => m.name === "ENTQ")?.samples.find((s) => s.entqLog)?.entqLog;
if (layoutLog) console.log(`ENTQ, CPU_ENTQ's report: ${layoutLog}`);
console.log("\n| model | file (GB) | load s | prompt tok/s | prompt vs Q8_0 | generation tok/s | generation vs Q8_0 | runs (generation tok/s) |");
console.log("|---|---|---|---|---|---|---|---|");
for (const m of models) {
    const gen = median(m.samples.map((s) => s.genTps));
    const prompt = median(m.samples.map((s) => s.promptTps));
    console.log(
        `| ${m.name} | ${gb(m.file).toFixed(3)} | ${median(m.samples.map((s) => s.loadSeconds)).toFixed(2)} | ${prompt.toFixed(1)} | ${(prompt / q8Prompt).toFixed(2)} | ` +
            `${gen.toFixed(2)} | ${(gen / q8Gen).toFixed(2)} | ${m.samples.map((s) => s.genTps.toFixed(2)).join(", ")} |`
    );
}
