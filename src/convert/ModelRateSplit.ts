// The "model" split of a --bits target: one lambda for every coded tensor
// (EntQuant's split of bits between tensors), found from samples of their
// rows before coding, and re-aimed once or twice while coding on what the
// coded tensors actually came to.
import type { CodeKind } from "../native/binding.js";
import { findModelLambda } from "../quant/findModelLambda.js";
import { defaultSampleFraction, sampleTensorRate, type TensorRateSample } from "../quant/sampleTensorRate.js";
import type { ConvertProgress } from "./ConvertProgress.js";
import type { SourceTensorInfo } from "./ModelSource.js";
import { codedShape } from "./selectTensors.js";

/** How the "model" split found and kept its lambda. */
export interface RateSearchReport {
    /** the lambda found before coding */
    lambda: number;
    /** the coded tensors' bits/weight the samples predicted at lambda */
    predictedBits: number;
    evaluations: number;
    /** rows sampled, of all coded tensors' rows */
    sampledRows: number;
    rows: number;
    /** reading, sampling and searching before coding */
    seconds: number;
    /** lambdas chosen while coding for the tensors not yet coded, when the coded ones missed their prediction */
    reaims: { afterTensors: number; biasBits: number; lambda: number }[];
}

export interface ModelRateSplitOptions {
    codeKind: CodeKind.E4M3 | CodeKind.INT8;
    sampleFraction?: number;
    fallbackGap?: number;
    threads?: number;
    segmentSymbols?: number;
    /** each tensor's factor on the model's lambda (default 1) */
    lambdaScale?: (t: SourceTensorInfo) => number;
    signal?: AbortSignal;
}

/** Shares of the coded weights after which the lambda is re-aimed. */
const REAIM_AT = [0.15, 0.5];
/** Bits/weight the coded tensors may miss their prediction by before a re-aim. */
const REAIM_BIAS = 0.001;

/**
 * Samples of rows predict a tensor's bits/weight at any lambda, but miss its
 * rare codes (tails, outliers), so the prediction runs a few thousandths of a
 * bit low; the coded tensors show by how much, and the tensors still to code
 * get the lambda that makes the whole model meet the target.
 */
export class ModelRateSplit {
    private lambdaNow: number;
    private predicted: Float64Array;
    private done = 0;
    private doneWeights = 0;
    private doneBits = 0;
    private donePredicted = 0;
    private nextReaim = 0;
    private readonly reaims: RateSearchReport["reaims"] = [];

    private constructor(
        private readonly samples: TensorRateSample[],
        private readonly target: number,
        private readonly threads: number | undefined,
        private readonly found: Omit<RateSearchReport, "reaims">,
        tensorBits: Float64Array
    ) {
        this.lambdaNow = found.lambda;
        this.predicted = tensorBits;
    }

    /** Reads and samples every tensor to code (in coding order), then finds the lambda. */
    static async create(
        tensors: readonly SourceTensorInfo[],
        read: (t: SourceTensorInfo) => Promise<Float32Array>,
        target: number,
        options: ModelRateSplitOptions,
        progress?: ConvertProgress
    ): Promise<ModelRateSplit> {
        const t0 = performance.now();
        const fraction = options.sampleFraction ?? defaultSampleFraction(tensors.reduce((a, t) => a + codedShape(t.dims).K * codedShape(t.dims).N, 0));
        const samples: TensorRateSample[] = [];
        for (const [i, t] of tensors.entries()) {
            progress?.tensor(i, `${t.name} (sampling rows)`);
            const weights = await read(t);
            samples.push(
                await sampleTensorRate(weights, {
                    rows: codedShape(t.dims).N,
                    cols: codedShape(t.dims).K,
                    tensor: t.name,
                    codeKind: options.codeKind,
                    fraction,
                    fallbackGap: options.fallbackGap,
                    threads: options.threads,
                    segmentSymbols: options.segmentSymbols,
                    lambdaScale: options.lambdaScale?.(t)
                })
            );
            progress?.advance(t.byteSize);
            options.signal?.throwIfAborted();
        }
        let evals = 0;
        const found = await findModelLambda(samples, target, {
            threads: options.threads,
            onEvaluation: (l, b) => progress?.status(`finding lambda: ${++evals}: lambda ${l.toPrecision(4)} -> ${b.toFixed(3)} bits/weight (target ${target})`)
        });
        const report = {
            lambda: found.lambda,
            predictedBits: found.bits,
            evaluations: found.evaluations,
            sampledRows: samples.reduce((a, s) => a + s.sampleRows, 0),
            rows: tensors.reduce((a, t) => a + codedShape(t.dims).N, 0),
            seconds: (performance.now() - t0) / 1000
        };
        return new ModelRateSplit(samples, target, options.threads, report, found.tensorBits);
    }

    /** The model's lambda for the next tensor to code (before its own factor). */
    get lambda(): number {
        return this.lambdaNow;
    }

    /** The bits/weight predicted for the next tensor to code, at its lambda. */
    get predictedBits(): number {
        return this.predicted[this.done]!;
    }

    /** Records the next tensor's coded size; may re-aim the lambda of the tensors after it. */
    async coded(streamBytes: number): Promise<void> {
        const i = this.done++;
        const w = this.samples[i]!.weights;
        this.doneWeights += w;
        this.doneBits += streamBytes * 8;
        this.donePredicted += this.predicted[i]! * w;
        const total = this.samples.reduce((a, s) => a + s.weights, 0);
        // every row sampled: the predictions are the size estimate itself, whose few bytes of slack per
        // tensor are no bias to correct (and re-aiming on them would make the result depend on tensor order)
        if (this.samples.every((x) => x.sampleRows === x.rows)) return;
        if (this.nextReaim >= REAIM_AT.length || this.doneWeights < REAIM_AT[this.nextReaim]! * total || this.done === this.samples.length) return;
        while (this.nextReaim < REAIM_AT.length && this.doneWeights >= REAIM_AT[this.nextReaim]! * total) this.nextReaim++;
        const bias = (this.doneBits - this.donePredicted) / this.doneWeights;
        if (Math.abs(bias) <= REAIM_BIAS) return;
        // the rest must bring the whole model to the target, and will run `bias` over their prediction too
        const rest = this.samples.slice(this.done);
        const restWeights = total - this.doneWeights;
        const restTarget = (this.target * total - this.doneBits) / restWeights - bias;
        try {
            const found = await findModelLambda(rest, restTarget, { threads: this.threads, guess: this.lambdaNow });
            this.lambdaNow = found.lambda;
            this.predicted.set(found.tensorBits, this.done);
            this.reaims.push({ afterTensors: this.done, biasBits: bias, lambda: found.lambda });
        } catch {
            // out of reach for the rest (tiny remainders): keep the lambda, the model stays as predicted
        }
    }

    report(): RateSearchReport {
        return { ...this.found, reaims: this.reaims };
    }
}
