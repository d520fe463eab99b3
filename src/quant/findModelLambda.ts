import { QuantizeError } from "./QuantizeError.js";
import type { TensorRateCurve } from "./tensorRateCurve.js";

/**
 * The one lambda that gives a set of tensors (a model) targetBits bits/weight
 * in total, from their rate curves (all measured at the same lambdas): the
 * model's bits/weight at each lambda is the weight-count-weighted mean of the
 * tensors' curves; the target is interpolated linearly in log2(lambda)
 * between the two grid points around it. Keeping one lambda for every tensor
 * keeps EntQuant's split of bits between tensors, unlike a target per tensor.
 */
export function findModelLambda(curves: readonly TensorRateCurve[], targetBits: number): number {
    if (curves.length === 0) throw new QuantizeError("OPTIONS", "no rate curves given");
    if (!(Number.isFinite(targetBits) && targetBits > 0)) throw new QuantizeError("OPTIONS", `targetBits must be > 0, not ${targetBits}`);
    const lambdas = curves[0]!.lambdas;
    if (curves.some((c) => c.lambdas.length !== lambdas.length || c.lambdas.some((l, i) => l !== lambdas[i])))
        throw new QuantizeError("OPTIONS", "all rate curves must be measured at the same lambdas");
    const total = curves.reduce((s, c) => s + c.weights, 0);
    const model = lambdas.map((_, i) => curves.reduce((s, c) => s + c.weights * c.bits[i]!, 0) / total);
    if (targetBits > model[0]!)
        throw new QuantizeError("TARGET", `target ${targetBits} bits/weight is above the model's ${model[0]!.toFixed(3)} at the smallest lambda (${lambdas[0]})`);
    const last = model.length - 1;
    if (targetBits < model[last]!)
        throw new QuantizeError("TARGET", `target ${targetBits} bits/weight is below the model's ${model[last]!.toFixed(3)} at the largest lambda (${lambdas[last]})`);
    let i = 0;
    while (i < last && model[i + 1]! >= targetBits) i++;
    if (i === last || model[i]! === model[i + 1]!) return lambdas[i]!;
    const lo = Math.log2(Math.max(lambdas[i]!, 2 ** -30));
    const hi = Math.log2(lambdas[i + 1]!);
    const t = (model[i]! - targetBits) / (model[i]! - model[i + 1]!);
    return 2 ** (lo + t * (hi - lo));
}
