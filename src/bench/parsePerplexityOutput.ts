// Reads llama-perplexity's report (tools/perplexity/perplexity.cpp, llama.cpp v0.5.0): the plain
// run's "Final estimate", or the --kl-divergence run's statistics blocks.

export interface ValueWithError {
    value: number;
    /** the ± uncertainty llama-perplexity prints */
    error: number;
}

export interface PerplexityOutput {
    /** PPL of the model run (the "Final estimate", or "Mean PPL(Q)" in a KL-divergence run) */
    ppl: ValueWithError;
    /** chunks evaluated and their context size, from "computing over N chunks, n_ctx=C" */
    chunks: number;
    nCtx: number;
    /** only in a --kl-divergence run */
    kld?: {
        pplBase: ValueWithError;
        mean: ValueWithError;
        median: number;
        p99: number;
        max: number;
        /** share of tokens whose most likely next token is the base model's, in % */
        sameTopPercent: ValueWithError;
        /** RMS of the change in the correct token's probability, in % */
        rmsDeltaPPercent: ValueWithError;
    };
}

/** llama-perplexity's output was not what this parser knows; carries the output's tail for the reader. */
export class PerplexityParseError extends Error {
    constructor(what: string, output: string) {
        super(`llama-perplexity output: ${what}\n--- last lines ---\n${output.trimEnd().split("\n").slice(-15).join("\n")}`);
        this.name = "PerplexityParseError";
    }
}

const NUM = "([-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?|nan|inf|-inf)";

/** `label` is the line's start as printed; runs of spaces in it match any run of spaces. */
function labelPattern(label: string): string {
    return label.replace(/[()%.]/g, "\\$&").replace(/ +/g, "\\s+");
}

function valueWithError(text: string, label: string, output: string): ValueWithError {
    const m = new RegExp(`^${labelPattern(label)}\\s*:\\s*${NUM}\\s*±\\s*${NUM}`, "m").exec(text);
    if (!m) throw new PerplexityParseError(`no "${label}" line`, output);
    return { value: Number(m[1]), error: Number(m[2]) };
}

function single(text: string, label: string, output: string): number {
    const m = new RegExp(`^${labelPattern(label)}\\s*:\\s*${NUM}`, "m").exec(text);
    if (!m) throw new PerplexityParseError(`no "${label}" line`, output);
    return Number(m[1]);
}

export function parsePerplexityOutput(output: string): PerplexityOutput {
    // "perplexity: calculating perplexity over 4 chunks, n_ctx=128, ..." or "kl_divergence: computing over 4 chunks, n_ctx=128, ..."
    const run = /(?:calculating perplexity|computing) over (\d+) chunks, n_ctx=(\d+)/.exec(output);
    if (!run) throw new PerplexityParseError('no "computing over N chunks, n_ctx=C" line (did the run fail before evaluating?)', output);
    const chunks = Number(run[1]);
    const nCtx = Number(run[2]);

    const final = new RegExp(`Final estimate: PPL = ${NUM} \\+/- ${NUM}`).exec(output);
    if (final) return { ppl: { value: Number(final[1]), error: Number(final[2]) }, chunks, nCtx };

    const stats = output.indexOf("====== Perplexity statistics ======");
    if (stats < 0) throw new PerplexityParseError('neither "Final estimate" nor "Perplexity statistics" (did the run finish?)', output);
    const text = output.slice(stats);
    return {
        ppl: valueWithError(text, "Mean PPL(Q)", output),
        chunks,
        nCtx,
        kld: {
            pplBase: valueWithError(text, "Mean PPL(base)", output),
            mean: valueWithError(text, "Mean KLD", output),
            median: single(text, "Median KLD", output),
            p99: single(text, "99.0% KLD", output),
            max: single(text, "Maximum KLD", output),
            rmsDeltaPPercent: valueWithError(text, "RMS Δp", output),
            sameTopPercent: valueWithError(text, "Same top p", output)
        }
    };
}
