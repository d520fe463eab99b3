import { getNativeBinding } from "../native/binding.js";
import { QuantizeError } from "./QuantizeError.js";
import type { TensorRateSample } from "./sampleTensorRate.js";

export interface FindModelLambdaOptions {
    /** bits/weight the predicted model total may miss the target by (default 0.002) */
    tolerance?: number;
    /** 0/undefined: all cores */
    threads?: number;
    /** a lambda known to be close (e.g. the last one found): searched from in small steps */
    guess?: number;
    /** hears each evaluation: a lambda and the model's predicted bits/weight there */
    onEvaluation?: (lambda: number, bits: number) => void;
}

export interface ModelLambda {
    lambda: number;
    /** the model's predicted bits/weight at lambda */
    bits: number;
    /** each tensor's predicted bits/weight at lambda, in the samples' order */
    tensorBits: Float64Array;
    /** passes over the samples the search took */
    evaluations: number;
}

/**
 * The one lambda that gives a set of tensors (a model) targetBits bits/weight
 * in total, predicted from their rate samples: a search on log2(lambda)
 * (bracket, then regula falsi), each step one pass over every sampled row.
 * One lambda for every tensor keeps EntQuant's split of bits between tensors,
 * unlike a target per tensor.
 */
export async function findModelLambda(samples: readonly TensorRateSample[], targetBits: number, options: FindModelLambdaOptions = {}): Promise<ModelLambda> {
    if (samples.length === 0) throw new QuantizeError("OPTIONS", "no rate samples given");
    if (!(Number.isFinite(targetBits) && targetBits > 0)) throw new QuantizeError("OPTIONS", `targetBits must be > 0, not ${targetBits}`);
    try {
        const r = await getNativeBinding().quantModelLambda(
            samples.map((s) => s.handle),
            targetBits,
            { tolerance: options.tolerance, threads: options.threads, guess: options.guess, onEvaluation: options.onEvaluation }
        );
        return { lambda: r.lambda, bits: r.bits, tensorBits: r.tensorBits, evaluations: r.evaluations };
    } catch (e) {
        throw QuantizeError.from(e);
    }
}
