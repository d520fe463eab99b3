// A small real bench run on the demo model (stories260K): one entropy-coded rate, two llama-quantize peers,
// a short text written for this test (test/fixtures/short-stories.txt, in TinyStories' style), few chunks. stories260K's rows are 64 (FFN down: 172) wide, so k-quants cannot apply:
// llama-quantize falls back, and the report must say so tensor by tensor.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { BenchError } from "../../src/bench/BenchError.js";
import type { BenchResults } from "../../src/bench/BenchResults.js";
import { runBench, type RunBenchOptions } from "../../src/bench/runBench.js";
import { inspectModel } from "../../src/inspect/inspectModel.js";
import { buildLlamaTools } from "../../src/runtime/buildLlamaTools.js";
import { demoModel, repoRoot } from "../helpers/sharedData.js";

const dir = mkdtempSync(join(tmpdir(), "entgguf-bench-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// a first tools build takes ~12 minutes on 2 busy cores: more than vitest's hook timeout allows
const TOOLS_BUILD_TIMEOUT_MS = 40 * 60_000;

let options: RunBenchOptions;
let results: BenchResults;
const logs: string[] = [];

beforeAll(async () => {
    await buildLlamaTools(); // minutes the first time; cached by build id
    options = {
        source: demoModel,
        text: join(repoRoot, "test", "fixtures", "short-stories.txt"),
        outDir: join(dir, "out"),
        bits: [3],
        peers: ["Q8_0", "Q4_K_M"],
        ctx: 64,
        chunks: 4,
        threads: 2,
        speed: { prompt: 32, gen: 8, rounds: 2 },
        log: (m) => void logs.push(m)
    };
    results = await runBench(options);
}, TOOLS_BUILD_TIMEOUT_MS);

describe("entgguf bench on stories260K", () => {
    it("measures the source, one coded model and two peers", () => {
        expect(results.artefacts.map((a) => a.label)).toEqual(["source", "entq-fp8-3", "Q8_0", "Q4_K_M"]);
        for (const a of results.artefacts) {
            expect(a.linear.tensors).toBe(37); // 35 linear weights, the output head, the token embeddings
            expect(a.perplexity!.chunks).toBe(4);
            expect(a.perplexity!.nCtx).toBe(64);
            expect(a.speed!.pp.samples).toHaveLength(4); // 2 rounds x 2 repetitions
            expect(a.speed!.tg.mean).toBeGreaterThan(0);
        }
        expect(results.artefacts[0]!.linear.bitsPerWeight).toBe(32);
        // stories260K in F32: GUIDE §5 puts its perplexity near 3.5 on TinyStories text (uniform over its vocabulary: 512)
        expect(results.artefacts[0]!.perplexity!.ppl.value).toBeGreaterThan(2);
        expect(results.artefacts[0]!.perplexity!.ppl.value).toBeLessThan(8);
    });

    it("counts the coded model's bits/weight as inspect does, near its target", async () => {
        const entq = results.artefacts[1]!;
        const inspected = await inspectModel(entq.file, { decode: false });
        expect(entq.linear.bitsPerWeight).toBeCloseTo(inspected.codedBitsPerWeight!, 12);
        expect(entq.fileBitsPerWeight).toBeCloseTo(inspected.fileBitsPerWeight, 12);
        expect(entq.fileBitsPerWeight).toBeGreaterThan(entq.linear.bitsPerWeight); // F32 norms
        expect(Math.abs(entq.linear.bitsPerWeight - 3)).toBeLessThan(0.3);
        expect(entq.linear.types).toEqual({ entq: 37 });
    });

    it("reports llama-quantize's fallbacks from its log, and they match the file's types", () => {
        const q8 = results.artefacts.find((a) => a.label === "Q8_0")!;
        // FFN down rows are 172 wide: not a multiple of 32, so Q8_0 itself cannot apply -> F16
        expect(q8.fallbacks.map((f) => f.tensor).sort()).toEqual([0, 1, 2, 3, 4].map((l) => `blk.${l}.ffn_down.weight`));
        expect(new Set(q8.fallbacks.map((f) => f.used))).toEqual(new Set(["f16"]));
        expect(q8.linear.types).toEqual({ q8_0: 32, f16: 5 });
        const q4 = results.artefacts.find((a) => a.label === "Q4_K_M")!;
        // rows of 64 or 172 are never a multiple of 256: every coded weight fell back, except the output head,
        // which llama-quantize makes Q8_0 outright when its rows do not fit 256-blocks
        expect(q4.fallbacks.map((f) => f.tensor)).not.toContain("output.weight");
        expect(q4.fallbacks).toHaveLength(36);
        expect(q4.linear.types.q4_K ?? 0).toBe(0);
        const used = q4.fallbacks.reduce<Record<string, number>>((m, f) => ((m[f.used] = (m[f.used] ?? 0) + 1), m), {});
        expect({ ...used, q8_0: (used.q8_0 ?? 0) + 1 }).toEqual(q4.linear.types);
    });

    it("KL-divergence orders the models by precision", () => {
        const kld = (l: string) => results.artefacts.find((a) => a.label === l)!.perplexity!.kld!.mean.value;
        expect(kld("Q8_0")).toBeLessThan(kld("entq-fp8-3"));
        expect(kld("entq-fp8-3")).toBeGreaterThan(0);
        expect(results.artefacts[1]!.perplexity!.kld!.pplBase.value).toBeCloseTo(results.artefacts[0]!.perplexity!.ppl.value, 3);
    });

    it("writes results.json, results.md and the plot", () => {
        const json = JSON.parse(readFileSync(join(options.outDir, "results.json"), "utf8")) as BenchResults;
        expect(json.artefacts).toHaveLength(4);
        const md = readFileSync(join(options.outDir, "results.md"), "utf8");
        expect(md).toMatch(/^\| Q4_K_M \| llama\.cpp \|.*\| 36 of 37: /m);
        expect(readFileSync(join(options.outDir, "plot.svg"), "utf8")).toContain("entgguf FP8");
        expect(json.commands.some((c) => c.startsWith("llama-perplexity ") && c.includes("--kl-divergence"))).toBe(true);
    });

    it("a second run redoes nothing: every step comes from the cache", async () => {
        logs.length = 0;
        const t0 = Date.now();
        const again = await runBench(options);
        const steps = logs.filter((l) => /^\[\d+\/\d+\]/.test(l));
        expect(steps.length).toBe(1 + 2 + 1 + 3 + 1); // convert, 2 quantize, the source's perplexity, 3 KLD runs, speed
        expect(steps.every((l) => l.endsWith(": cached"))).toBe(true);
        expect(Date.now() - t0).toBeLessThan(20_000);
        expect(again.artefacts.map((a) => a.perplexity!.ppl.value)).toEqual(results.artefacts.map((a) => a.perplexity!.ppl.value));
    });

    it("a deleted artefact is made again, with the measurements that depend on it", async () => {
        rmSync(join(options.outDir, "models", "Q8_0.gguf"));
        logs.length = 0;
        await runBench(options);
        const redone = logs.filter((l) => /^\[\d+\/\d+\]/.test(l) && l.endsWith(" ...")).map((l) => l.replace(/^\[\d+\/\d+\] /, ""));
        expect(redone).toEqual(["llama-quantize Q8_0 ...", "llama-perplexity + KL-divergence: Q8_0 ...", expect.stringMatching(/^llama-bench: 4 models/)]);
    });

    it("refuses missing inputs and a source that is already quantised, before any work", async () => {
        await expect(runBench({ ...options, source: join(dir, "nope.gguf") })).rejects.toThrow(/source model .*nope\.gguf does not exist/);
        await expect(runBench({ ...options, text: join(dir, "nope.txt") })).rejects.toThrow(/text file .*nope\.txt does not exist/);
        const q8 = results.artefacts.find((a) => a.label === "Q8_0")!.file;
        await expect(runBench({ ...options, source: q8 })).rejects.toThrow(BenchError);
        await expect(runBench({ ...options, source: q8 })).rejects.toThrow(/needs an F32\/F16\/BF16 source/);
    });
});
