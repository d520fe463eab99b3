import { CodeKind, getNativeBinding, QuantMethod } from "../native/binding.js";
import { QuantizeError } from "./QuantizeError.js";

/** Half-octave steps of lambda from 1/4 to 1024: ~6.5 down to ~1 bits/weight at 3-bit-typical weights. */
export const defaultRateCurveLambdas: readonly number[] = Array.from({ length: 25 }, (_, i) => 2 ** (-2 + i / 2));

export interface TensorRateCurveOptions {
    rows: number;
    cols: number;
    tensor?: string;
    codeKind?: CodeKind.E4M3 | CodeKind.INT8;
    /** ascending, >= 0 (default defaultRateCurveLambdas) */
    lambdas?: readonly number[];
    fallbackGap?: number;
    threads?: number;
    segmentSymbols?: number;
}

export interface TensorRateCurve {
    /** rows x cols */
    weights: number;
    lambdas: readonly number[];
    /** estimated coded bits/weight of the tensor at each lambda (L1; absmax size if it falls back) */
    bits: Float64Array;
    fellBack: boolean;
}

/**
 * A tensor's coded size as a function of lambda (EntQuant's L1 objective),
 * measured on a sample of ~2^20 weights of evenly spaced rows without writing
 * codes: one input of findModelLambda, which picks the one lambda that gives
 * a whole model its target bits/weight.
 */
export async function tensorRateCurve(weights: Float32Array, options: TensorRateCurveOptions): Promise<TensorRateCurve> {
    const { rows, cols, tensor } = options;
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || weights.length !== rows * cols)
        throw new QuantizeError("SHAPE", `weights hold ${weights.length} values, shape [${rows}, ${cols}] needs ${rows * cols}`, tensor);
    const lambdas = options.lambdas ?? defaultRateCurveLambdas;
    if (lambdas.length === 0 || lambdas.some((l, i) => !(Number.isFinite(l) && l >= 0) || (i > 0 && l <= lambdas[i - 1]!)))
        throw new QuantizeError("OPTIONS", "lambdas must be finite, >= 0 and strictly ascending", tensor);
    try {
        const r = await getNativeBinding().quantRateCurve(weights, rows, cols, Float64Array.from(lambdas), {
            codeKind: options.codeKind ?? CodeKind.E4M3,
            method: QuantMethod.L1,
            fallbackGap: options.fallbackGap,
            threads: options.threads,
            segmentSymbols: options.segmentSymbols
        });
        return { weights: rows * cols, lambdas, bits: r.bits, fellBack: r.fellBack };
    } catch (e) {
        throw QuantizeError.from(e, tensor);
    }
}
