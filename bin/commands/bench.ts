import { Command, InvalidArgumentError, Option } from "commander";

import { formatResultsMarkdown } from "../../src/bench/formatResultsMarkdown.js";
import { runBench } from "../../src/bench/runBench.js";
import type { LambdaScale } from "../../src/convert/lambdaScaleFor.js";
import { collectLambdaScale } from "./convert.js";

function list<T>(what: string, parse: (s: string) => T) {
    return (v: string): T[] => {
        const items = v.split(",").map((s) => s.trim()).filter(Boolean);
        if (!items.length) throw new InvalidArgumentError(`${what}: give a comma-separated list`);
        return items.map(parse);
    };
}

function positiveInt(what: string) {
    return (v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer`);
        return n;
    };
}

const number = (s: string) => {
    const n = Number(s);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${s} is not a number`);
    return n;
};

export function registerBenchCommand(program: Command): void {
    program
        .command("bench")
        .description(
            "quality and speed of entropy-coded versions of a model next to llama.cpp's own quant types: " +
                "perplexity, KL-divergence to the source, tokens/s; writes results.json, results.md and plot.svg/png (cached per step)"
        )
        .argument("<source.gguf>", "F32/F16/BF16 model to compress")
        .requiredOption("--text <file>", "text to evaluate on (first half; the second half calibrates importance matrices)")
        .option("-o, --out <dir>", "output folder (models, logs, cache, results)", "bench-out")
        .option("--bits <list>", "target bits/weight of the entropy-coded versions", list("--bits", number), [2, 2.5, 3, 4])
        .option("--codes <list>", "code kinds: fp8, int8", list("--codes", (s) => {
            if (s !== "fp8" && s !== "int8") throw new InvalidArgumentError(`--codes: ${s} is not fp8 or int8`);
            return s;
        }), ["fp8"])
        .option("--peers <list>", "llama-quantize types (IQ* and Q2_K_S get an importance matrix from the calibration slice)", list("--peers", (s) => s.toUpperCase()), ["Q8_0", "Q4_K_M", "Q3_K_M", "Q2_K"])
        .option("-c, --ctx <n>", "llama-perplexity context size", positiveInt("--ctx"), 512)
        .option("--chunks <n>", "llama-perplexity chunks", positiveInt("--chunks"), 20)
        .option("--imatrix-chunks <n>", "llama-imatrix chunks of the calibration slice (default: --chunks)", positiveInt("--imatrix-chunks"))
        .option("-t, --threads <n>", "threads for every tool (default: all cores)", positiveInt("--threads"))
        .option("--speed-prompt <n>", "llama-bench -p", positiveInt("--speed-prompt"), 128)
        .option("--speed-gen <n>", "llama-bench -n", positiveInt("--speed-gen"), 32)
        .option("--speed-rounds <n>", "llama-bench rounds over all models, alternating order", positiveInt("--speed-rounds"), 3)
        .option("--no-speed", "skip llama-bench")
        .option("--no-embeddings", "keep the coded versions' token embeddings at source precision (convert's option)")
        .option("--no-output-head", "keep the coded versions' output head at source precision (convert's option)")
        .option("--lambda-scale <glob=factor>", "convert's option of that name, for the coded versions (repeatable)", collectLambdaScale)
        .option("--no-lambda-scale", "convert's option of that name: one lambda for every tensor")
        .option("--rpc <list>", "`entgguf rpc-server` endpoints (host:port,...) that take every layer in llama-perplexity and llama-bench", list("--rpc", (s) => s))
        .addOption(new Option("--tools-build <mode>", "build llama.cpp's tools when missing, or fail").choices(["auto", "never"]).default("auto"))
        .action(async (source: string, o: Record<string, unknown>) => {
            const abort = new AbortController();
            const stop = () => abort.abort(new Error("interrupted"));
            process.once("SIGINT", stop).once("SIGTERM", stop);
            const r = await runBench({
                source,
                text: o.text as string,
                outDir: o.out as string,
                bits: o.bits as number[],
                codes: o.codes as ("fp8" | "int8")[],
                peers: o.peers as string[],
                ctx: o.ctx as number,
                chunks: o.chunks as number,
                imatrixChunks: o.imatrixChunks as number | undefined,
                threads: o.threads as number | undefined,
                speed: o.speed === false ? false : { prompt: o.speedPrompt as number, gen: o.speedGen as number, rounds: o.speedRounds as number },
                toolsBuild: o.toolsBuild as "auto" | "never",
                rpc: o.rpc as string[] | undefined,
                embeddings: o.embeddings !== false,
                outputHead: o.outputHead !== false,
                lambdaScales: o.lambdaScale === false ? [] : (o.lambdaScale as LambdaScale[] | undefined),
                signal: abort.signal
            });
            process.off("SIGINT", stop).off("SIGTERM", stop);
            console.log(formatResultsMarkdown(r));
        });
}
