export type BenchErrorCode = "INPUT" | "OPTIONS" | "PARSE";

/** A bench run that cannot go on: a missing or unsuitable input, bad options, tool output not understood. */
export class BenchError extends Error {
    constructor(
        readonly code: BenchErrorCode,
        message: string
    ) {
        super(message);
        this.name = "BenchError";
    }
}
