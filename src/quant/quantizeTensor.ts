import { CodeKind, getNativeBinding, QuantMethod, type NativeErrorSums } from "../native/binding.js";
import { QuantizeError } from "./QuantizeError.js";

export interface QuantizeTensorOptions {
    /** output rows (N): one scale each */
    rows: number;
    /** row length (K) */
    cols: number;
    /** for error messages */
    tensor?: string;
    /** default E4M3 */
    codeKind?: CodeKind.E4M3 | CodeKind.INT8;
    /** default L1 (EntQuant's objective; it beat ECQ at equal size, docs/DESIGN.md "Quantiser") */
    method?: QuantMethod;
    /** L1: EntQuant's lambda (3.9 ~ 4 bits, 14.5 ~ 3, 58 ~ 2); ECQ: weight of bits/weight against relative MSE. Default 14.5. */
    lambda?: number;
    /** bits per weight of the coded stream (header, scales, table included); lambda is then searched for this tensor.
     *  For one lambda across a whole model (better: it keeps EntQuant's split of bits) see findModelLambda. */
    targetBits?: number;
    /** ECQ: re-estimates of the code distribution (default 4) */
    ecqIters?: number;
    /** ECQ without targetBits: the L1 lambda it starts from (default 14.5) */
    ecqInitLambda?: number;
    /** absmax fallback when max|w| / (8th largest |w|) >= this (default 8); 0 disables */
    fallbackGap?: number;
    /** 0/undefined: all cores */
    threads?: number;
    /** the stream's segment size the size estimate assumes (default: the format's) */
    segmentSymbols?: number;
    /** search every stored scale per row: the exact optimum, ~500x slower */
    exhaustive?: boolean;
    /** a buffer of at least rows x cols bytes to write the codes into (reused between tensors: fresh memory is slow on VMs); codes is then a view of it */
    codesOut?: Uint8Array;
}

export interface QuantizedTensor {
    rows: number;
    cols: number;
    codeKind: CodeKind.E4M3 | CodeKind.INT8;
    /** rows x cols codes, row-major */
    codes: Uint8Array;
    /** one f16 bit pattern per row; the row's scale is scaleBase * f16(rowScales[r]) */
    rowScales: Uint16Array;
    scaleBase: number;
    /** the method that ran: Absmax when the tensor fell back */
    method: QuantMethod;
    /** true when the outlier rule chose absmax */
    fellBack: boolean;
    /** max|w| / (8th largest |w|), the statistic the fallback rule reads */
    outlierGap: number;
    /** lambda used (found, with targetBits) */
    lambda: number;
    /** L1 and Absmax: EntQuant's objective at lambda; ECQ: relative MSE + lambda * bits/weight */
    objective: number;
    error: NativeErrorSums;
    /** the stream's size estimated from the code counts (within ~0.2% of the encoder's) */
    estimatedBytes: number;
    bitsPerWeight: number;
    /** Shannon entropy of the codes, bits per code */
    entropyBits: number;
    /** passes over every row, and over the sample of rows, the lambda search took */
    passes: number;
    samplePasses: number;
}

const methods = { absmax: QuantMethod.Absmax, l1: QuantMethod.L1, ecq: QuantMethod.Ecq } as const;

function check(ok: boolean, what: string, tensor: string | undefined): void {
    if (!ok) throw new QuantizeError("OPTIONS", what, tensor);
}

/**
 * Quantises one weight tensor (rows x cols, row-major f32) to 8-bit codes with
 * one scale per row chosen for low code entropy; off the main thread, rows
 * spread over all cores.
 */
export async function quantizeTensor(weights: Float32Array, options: QuantizeTensorOptions): Promise<QuantizedTensor> {
    const { rows, cols, tensor } = options;
    if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || rows > 2 ** 32 - 1 || cols > 2 ** 32 - 1)
        throw new QuantizeError("SHAPE", `shape [${rows}, ${cols}] must be positive integers`, tensor);
    if (!(weights instanceof Float32Array))
        throw new QuantizeError("SHAPE", "weights must be a Float32Array", tensor);
    if (weights.length !== rows * cols)
        throw new QuantizeError("SHAPE", `weights hold ${weights.length} values, shape [${rows}, ${cols}] needs ${rows * cols}`, tensor);
    const codeKind = options.codeKind ?? CodeKind.E4M3;
    check(codeKind === CodeKind.E4M3 || codeKind === CodeKind.INT8, "codeKind must be CodeKind.E4M3 or CodeKind.INT8", tensor);
    const method = options.method ?? QuantMethod.L1;
    check(Object.values(methods).includes(method), "method must be a QuantMethod", tensor);
    const nonNegative = (v: number | undefined, name: string) =>
        check(v === undefined || (Number.isFinite(v) && v >= 0), `${name} must be a finite number >= 0`, tensor);
    nonNegative(options.lambda, "lambda");
    nonNegative(options.targetBits, "targetBits");
    nonNegative(options.ecqInitLambda, "ecqInitLambda");
    check(options.fallbackGap === undefined || Number.isFinite(options.fallbackGap), "fallbackGap must be finite", tensor);
    check(!options.targetBits || method !== QuantMethod.Absmax, "targetBits needs method L1 or ECQ, not Absmax", tensor);
    check(options.codesOut === undefined || (options.codesOut instanceof Uint8Array && options.codesOut.length >= rows * cols),
        "codesOut must be a Uint8Array of at least rows x cols bytes", tensor);
    check(options.ecqIters === undefined || (Number.isInteger(options.ecqIters) && options.ecqIters >= 1 && options.ecqIters <= 100),
        "ecqIters must be an integer in 1..100", tensor);
    try {
        const r = await getNativeBinding().quantize(weights, rows, cols, {
            codeKind,
            method,
            lambda: options.lambda,
            targetBits: options.targetBits,
            ecqIters: options.ecqIters,
            ecqInitLambda: options.ecqInitLambda,
            fallbackGap: options.fallbackGap,
            threads: options.threads,
            segmentSymbols: options.segmentSymbols,
            exhaustive: options.exhaustive
        }, options.codesOut);
        return {
            rows,
            cols,
            codeKind,
            codes: r.codes.length === rows * cols ? r.codes : r.codes.subarray(0, rows * cols),
            rowScales: r.rowScales,
            scaleBase: r.scaleBase,
            method: methods[r.method],
            fellBack: r.fellBack,
            outlierGap: r.outlierGap,
            lambda: r.lambda,
            objective: r.objective,
            error: r.error,
            estimatedBytes: r.estimatedBytes,
            bitsPerWeight: r.bitsPerWeight,
            entropyBits: r.entropyBits,
            passes: r.passes,
            samplePasses: r.samplePasses
        };
    } catch (e) {
        throw QuantizeError.from(e, tensor);
    }
}
