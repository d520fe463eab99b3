// What `entgguf bench` measures and writes to results.json: one entry per artefact (the source model,
// each entropy-coded version, each llama-quantize peer), plus the settings and the machine.
import type { LinearWeightStats } from "./bitsPerWeight.js";
import type { PerplexityOutput } from "./parsePerplexityOutput.js";
import type { QuantizeFallback } from "./parseQuantizeLog.js";

export interface SpeedStats {
    /** tokens/s over all rounds' samples */
    mean: number;
    stddev: number;
    samples: number[];
}

export interface BenchArtefact {
    /** file stem and table key, e.g. "source", "entq-fp8-2.5", "Q4_K_M" */
    label: string;
    kind: "source" | "entq" | "peer";
    /** the line it belongs to in the plot, e.g. "entgguf FP8", "llama.cpp", "llama.cpp + imatrix" */
    method: string;
    /** what was asked for: "2.5 bits/w target", "Q4_K_M", "F32" */
    setting: string;
    file: string;
    fileBytes: number;
    /** over the tensors the converter codes (blk.*.attn_* / ffn_* weights) */
    linear: LinearWeightStats;
    /** the whole file: bytes x 8 / the elements of every tensor (what a user compares) */
    fileBitsPerWeight: number;
    /** peers made with an importance matrix computed from (a separate slice of) the text */
    calibration: boolean;
    /** llama-quantize's fallbacks (rows not a multiple of the type's block) */
    fallbacks: QuantizeFallback[];
    perplexity?: PerplexityOutput;
    speed?: { pp: SpeedStats; tg: SpeedStats };
}

export interface BenchSettings {
    ctx: number;
    chunks: number;
    threads: number;
    /** llama-bench's -p and -n, and how many alternating rounds */
    speed: { prompt: number; gen: number; rounds: number } | false;
    imatrixChunks: number;
    /** rpc-server endpoints that held every layer in llama-perplexity and llama-bench (`--rpc`), if any */
    rpc?: string[];
}

export interface BenchResults {
    source: string;
    text: string;
    /** characters of the text evaluated (first half) and used for the importance matrix (second half) */
    evalChars: number;
    calibrationChars: number;
    settings: BenchSettings;
    /** the label speeds are given relative to (Q8_0 when measured, else the source) */
    speedReference?: string;
    /** when the (possibly cached) speed runs were made, and the machine's load then */
    speedRun?: { date: string; loadAverageStart: number[]; loadAverageEnd: number[] };
    /** this invocation (every step may have come from the cache) */
    machine: { cpu: string; cores: number; loadAverageStart: number[]; loadAverageEnd: number[]; date: string; node: string; toolsBuild: string };
    /** the tool command lines, in the order they ran (cached steps are listed as they were first run) */
    commands: string[];
    artefacts: BenchArtefact[];
}
