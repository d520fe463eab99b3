import { CodeKind, getNativeBinding, QuantMethod } from "../native/binding.js";
import { QuantizeError } from "./QuantizeError.js";

/** Rows sampled at least (all rows of smaller tensors). */
export const MIN_SAMPLE_ROWS = 16;
/**
 * Weights sampled at least per tensor (all of smaller tensors): rare codes
 * (the tails) are missing from small samples, which then predict too few
 * bits: ~0.01-0.03 bits/weight from 64 K weights, ~0.005 from 256 K.
 */
export const MIN_SAMPLE_WEIGHTS = 2 ** 17;

/**
 * The share of rows to sample from each of a model's tensors: 1/64 (its
 * bits/weight to ~0.01, the model's to ~0.002: docs/BENCHMARKS.md
 * "Converter"); more in small models, so that at least 2^22 weights are
 * sampled (every row when that is half of them); less in models so large that the copies would
 * pass 2^25 weights (128 MB): they have many tensors to average over.
 */
export function defaultSampleFraction(modelWeights: number): number {
    const w = Math.max(1, modelWeights);
    const f = Math.min(1, Math.max(1 / 64, 2 ** 22 / w), 2 ** 25 / w);
    return f >= 0.5 ? 1 : f; // then every row: the prediction is exact and costs little more
}

export interface SampleTensorRateOptions {
    rows: number;
    cols: number;
    tensor?: string;
    codeKind?: CodeKind.E4M3 | CodeKind.INT8;
    /** share of the rows kept (default 1/64; at least MIN_SAMPLE_ROWS rows and MIN_SAMPLE_WEIGHTS weights) */
    fraction?: number;
    fallbackGap?: number;
    threads?: number;
    segmentSymbols?: number;
    /** the tensor will be coded at the model's lambda times this (default 1) */
    lambdaScale?: number;
}

/** What findModelLambda needs of one tensor; the sampled rows stay in native memory until it is dropped. */
export interface TensorRateSample {
    tensor?: string;
    /** rows x cols of the whole tensor */
    weights: number;
    rows: number;
    sampleRows: number;
    /** the outlier rule chose absmax: its size does not depend on lambda */
    fellBack: boolean;
    outlierGap: number;
    /** the native sample (opaque) */
    handle: unknown;
}

/**
 * Keeps what a model-wide lambda search needs of one tensor (EntQuant's L1
 * objective): the statistics of every row (they weigh the objective, set the
 * scale base and decide the fallback) and a copy of evenly spaced rows, whose
 * coded size predicts the tensor's. One pass over the weights, no codes written.
 */
export async function sampleTensorRate(weights: Float32Array, options: SampleTensorRateOptions): Promise<TensorRateSample> {
    const { rows, cols, tensor } = options;
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || weights.length !== rows * cols)
        throw new QuantizeError("SHAPE", `weights hold ${weights.length} values, shape [${rows}, ${cols}] needs ${rows * cols}`, tensor);
    const fraction = options.fraction ?? 1 / 64;
    if (!(fraction > 0 && fraction <= 1)) throw new QuantizeError("OPTIONS", `fraction must be in (0, 1], not ${fraction}`, tensor);
    const sampleRows = Math.min(rows, Math.max(MIN_SAMPLE_ROWS, Math.ceil(MIN_SAMPLE_WEIGHTS / cols), Math.ceil(rows * fraction)));
    try {
        const r = await getNativeBinding().quantRateSample(weights, rows, cols, sampleRows, {
            codeKind: options.codeKind ?? CodeKind.E4M3,
            method: QuantMethod.L1,
            fallbackGap: options.fallbackGap,
            threads: options.threads,
            segmentSymbols: options.segmentSymbols,
            lambdaScale: options.lambdaScale
        });
        return { tensor, weights: rows * cols, rows, sampleRows: r.sampleRows, fellBack: r.fellBack, outlierGap: r.outlierGap, handle: r.handle };
    } catch (e) {
        throw QuantizeError.from(e, tensor);
    }
}
