import { CodeKind, getNativeBinding, type NativeErrorSums } from "../native/binding.js";
import type { QuantizedTensor } from "./quantizeTensor.js";
import { QuantizeError } from "./QuantizeError.js";

/**
 * EntQuant's objective of a quantised tensor against its weights,
 * L = sum|W - Wh| / sum|W| + lambda * c * mean|q| (c = 4 for E4M3, 1/128 for INT8),
 * with the error measures. One pass over the tensor on the calling thread.
 */
export function quantObjective(
    weights: Float32Array,
    q: Pick<QuantizedTensor, "rows" | "cols" | "codes" | "rowScales" | "scaleBase" | "codeKind">,
    lambda: number
): NativeErrorSums & { objective: number } {
    if (weights.length !== q.rows * q.cols || q.codes.length !== weights.length || q.rowScales.length !== q.rows)
        throw new QuantizeError("SHAPE", `weights (${weights.length}), codes (${q.codes.length}) and rowScales (${q.rowScales.length}) do not match [${q.rows}, ${q.cols}]`);
    if (q.codeKind !== CodeKind.E4M3 && q.codeKind !== CodeKind.INT8) throw new QuantizeError("OPTIONS", "codeKind must be E4M3 or INT8");
    return getNativeBinding().quantObjective(weights, q.codes, q.rowScales, q.scaleBase, q.rows, q.cols, q.codeKind, lambda);
}
