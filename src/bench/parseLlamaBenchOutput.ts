// Reads llama-bench's `-o jsonl` output (tools/llama-bench, llama.cpp v0.5.0): one JSON object per test.

export interface LlamaBenchTest {
    /** the -m path as given */
    model: string;
    /** "pp" (prompt processing, n_prompt tokens) or "tg" (generation, n_gen tokens) */
    kind: "pp" | "tg";
    tokens: number;
    threads: number;
    /** tokens/s of each repetition */
    samples: number[];
    mean: number;
    stddev: number;
}

export class LlamaBenchParseError extends Error {
    constructor(what: string) {
        super(`llama-bench output: ${what}`);
        this.name = "LlamaBenchParseError";
    }
}

export function parseLlamaBenchOutput(output: string): LlamaBenchTest[] {
    const tests: LlamaBenchTest[] = [];
    for (const line of output.split("\n")) {
        if (!line.startsWith("{")) continue; // llama-bench logs to stderr; stray lines are not ours
        let o: Record<string, unknown>;
        try {
            o = JSON.parse(line) as Record<string, unknown>;
        } catch (e) {
            throw new LlamaBenchParseError(`a line that is not JSON (${(e as Error).message}): ${line.slice(0, 200)}`);
        }
        const num = (k: string) => {
            if (typeof o[k] !== "number") throw new LlamaBenchParseError(`field "${k}" missing or not a number in ${line.slice(0, 200)}`);
            return o[k] as number;
        };
        const nPrompt = num("n_prompt");
        const nGen = num("n_gen");
        // a test is either pp (n_gen 0) or tg (n_prompt 0); -pg tests mix both and are not read here
        if ((nPrompt > 0) === (nGen > 0)) throw new LlamaBenchParseError(`a test with n_prompt=${nPrompt} and n_gen=${nGen}: run only -p and -n tests`);
        if (typeof o.model_filename !== "string" || !Array.isArray(o.samples_ts))
            throw new LlamaBenchParseError(`model_filename or samples_ts missing in ${line.slice(0, 200)}`);
        tests.push({
            model: o.model_filename,
            kind: nPrompt > 0 ? "pp" : "tg",
            tokens: nPrompt > 0 ? nPrompt : nGen,
            threads: num("n_threads"),
            samples: (o.samples_ts as unknown[]).map(Number),
            mean: num("avg_ts"),
            stddev: num("stddev_ts")
        });
    }
    return tests;
}
