// Parsers of llama.cpp's tool output, on fixtures recorded from real runs of the tools build
// (stories260K, `entgguf bench ... --bits 3 --peers Q8_0,Q4_K_M -c 64 --chunks 4`).
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { LlamaBenchParseError, parseLlamaBenchOutput } from "../../src/bench/parseLlamaBenchOutput.js";
import { PerplexityParseError, parsePerplexityOutput } from "../../src/bench/parsePerplexityOutput.js";
import { parseQuantizeLog } from "../../src/bench/parseQuantizeLog.js";
import { repoRoot } from "../helpers/sharedData.js";

const fixture = (name: string) => readFileSync(join(repoRoot, "test", "bench", "fixtures", name), "utf8");

describe("parsePerplexityOutput", () => {
    it("reads a plain run (the source, saving its logits)", () => {
        expect(parsePerplexityOutput(fixture("stories260K-perplexity-base.txt"))).toEqual({ ppl: { value: 3.8275, error: 0.68277 }, chunks: 4, nCtx: 64 });
    });

    it("reads a --kl-divergence run's statistics", () => {
        const r = parsePerplexityOutput(fixture("stories260K-perplexity-kld-entq-fp8-3.txt"));
        expect(r.ppl).toEqual({ value: 10.600909, error: 2.072841 });
        expect(r.chunks).toBe(4);
        expect(r.nCtx).toBe(64);
        expect(r.kld!.pplBase.value).toBeCloseTo(3.8275, 4);
        expect(r.kld!.mean).toEqual({ value: 0.915301, error: 0.097626 });
        expect(r.kld!.sameTopPercent).toEqual({ value: 58.871, error: 4.437 });
        expect(r.kld!.rmsDeltaPPercent).toEqual({ value: 36.645, error: 2.636 });
        expect(r.kld!.max).toBeGreaterThanOrEqual(r.kld!.p99);
        expect(r.kld!.p99).toBeGreaterThanOrEqual(r.kld!.median);
    });

    it("refuses an unfinished or failed run, showing its last lines", () => {
        const log = fixture("stories260K-perplexity-kld-entq-fp8-3.txt");
        const cut = log.slice(0, log.indexOf("====== Perplexity statistics"));
        expect(() => parsePerplexityOutput(cut)).toThrow(PerplexityParseError);
        expect(() => parsePerplexityOutput(cut)).toThrow(/did the run finish/);
        const failed = "perplexity: tokenizing the input ..\nperplexity: you need at least 1024 tokens to evaluate perplexity with a context of 512\n";
        expect(() => parsePerplexityOutput(failed)).toThrow(/you need at least 1024 tokens/);
        const noKld = log.replace(/^Mean\s+KLD.*$/m, "");
        expect(() => parsePerplexityOutput(noKld)).toThrow(/no "Mean KLD" line/);
    });
});

describe("parseLlamaBenchOutput", () => {
    it("reads every pp and tg test of a jsonl run, ignoring the log lines around them", () => {
        const tests = parseLlamaBenchOutput(fixture("stories260K-llama-bench.txt"));
        expect(tests).toHaveLength(8); // 4 models x (pp, tg)
        expect(tests.map((t) => `${t.model.split("/").pop()} ${t.kind}${t.tokens}`)).toEqual([
            "stories260K.gguf pp32", "stories260K.gguf tg8",
            "entq-fp8-3.gguf pp32", "entq-fp8-3.gguf tg8",
            "Q8_0.gguf pp32", "Q8_0.gguf tg8",
            "Q4_K_M.gguf pp32", "Q4_K_M.gguf tg8"
        ]);
        for (const t of tests) {
            expect(t.threads).toBe(2);
            expect(t.samples).toHaveLength(2);
            expect(t.mean).toBeCloseTo((t.samples[0]! + t.samples[1]!) / 2, -1);
        }
        expect(tests[0]!.samples).toEqual([23837.2, 24470]);
        expect(tests[0]!.mean).toBe(24153.611823);
    });

    it("refuses a broken line and a mixed pp+tg test", () => {
        expect(() => parseLlamaBenchOutput('{"n_prompt": 32,')).toThrow(LlamaBenchParseError);
        const line = fixture("stories260K-llama-bench.txt").split("\n").find((l) => l.startsWith("{"))!;
        expect(() => parseLlamaBenchOutput(line.replace('"n_gen": 0', '"n_gen": 8'))).toThrow(/run only -p and -n tests/);
        expect(() => parseLlamaBenchOutput(line.replace(/"avg_ts": [\d.]+,/, ""))).toThrow(/avg_ts/);
    });
});

describe("parseQuantizeLog", () => {
    it("reads every fallback of Q4_K_M on 64- and 172-wide rows, matching llama-quantize's own count", () => {
        const r = parseQuantizeLog(fixture("stories260K-quantize-Q4_K_M.txt"));
        expect(r.reportedFallbacks).toBe(36);
        expect(r.fallbacks).toHaveLength(36);
        expect(r.fallbacks[0]).toEqual({ tensor: "token_embd.weight", cols: 64, block: 256, wanted: "q4_K", used: "q5_0" });
        const down = r.fallbacks.filter((f) => f.tensor.endsWith("ffn_down.weight"));
        expect(down.map((f) => [f.cols, f.used])).toEqual(Array(5).fill([172, "f16"]));
        expect(new Set(down.map((f) => f.wanted))).toEqual(new Set(["q4_K", "q6_K"]));
    });

    it("reads Q8_0's fallbacks (172 is not a multiple of 32 either) and a log without any", () => {
        const r = parseQuantizeLog(fixture("stories260K-quantize-Q8_0.txt"));
        expect(r.reportedFallbacks).toBe(5);
        expect(r.fallbacks.map((f) => `${f.tensor} ${f.block} ${f.wanted}->${f.used}`)).toEqual(
            [0, 1, 2, 3, 4].map((l) => `blk.${l}.ffn_down.weight 32 q8_0->f16`)
        );
        expect(parseQuantizeLog("llama_model_quantize_impl: model size = 1.12 MiB\n")).toEqual({ fallbacks: [], reportedFallbacks: undefined });
    });
});
