/** Why a tensor could not be quantised. */
export type QuantizeErrorCode =
    /** weights do not match the shape, or the shape is not positive integers */
    | "SHAPE"
    /** an option is out of range */
    | "OPTIONS"
    /** a weight is NaN or infinite (the message names its row and column) */
    | "NONFINITE"
    /** the target bits/weight cannot be reached for this tensor (the message gives the reachable end) */
    | "TARGET";

/** A tensor that could not be quantised; names the tensor when known. */
export class QuantizeError extends Error {
    readonly code: QuantizeErrorCode;
    readonly tensor?: string;

    constructor(code: QuantizeErrorCode, message: string, tensor?: string) {
        super(tensor ? `tensor "${tensor}": ${message}` : message);
        this.name = "QuantizeError";
        this.code = code;
        this.tensor = tensor;
    }

    /** Wraps an error from the addon (.code = "ENTQ_QUANT_*"); anything else passes through. */
    static from(e: unknown, tensor?: string): unknown {
        const code = (e as { code?: unknown })?.code;
        const map: Record<string, QuantizeErrorCode> = {
            ENTQ_QUANT_ARG: "OPTIONS",
            ENTQ_QUANT_NONFINITE: "NONFINITE",
            ENTQ_QUANT_TARGET: "TARGET"
        };
        if (typeof code === "string" && code in map) return new QuantizeError(map[code]!, (e as Error).message, tensor);
        return e;
    }
}
