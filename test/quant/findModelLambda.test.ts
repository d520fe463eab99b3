import { describe, expect, it } from "vitest";

import { CodeKind } from "../../src/native/binding.js";
import { findModelLambda } from "../../src/quant/findModelLambda.js";
import { quantizeTensor } from "../../src/quant/quantizeTensor.js";
import { QuantizeError } from "../../src/quant/QuantizeError.js";
import { defaultSampleFraction, sampleTensorRate, type TensorRateSample } from "../../src/quant/sampleTensorRate.js";
import { encodeStream } from "../../src/stream/encodeStream.js";
import { SeededRandom } from "../helpers/seededRandom.js";

function gauss(r: SeededRandom): number {
    return Math.sqrt(-2 * Math.log(r.uniform())) * Math.cos(2 * Math.PI * r.uniform());
}

/** Student-t weights with `dof` degrees of freedom (heavier tails for smaller dof); dof 0: Laplace (cheap to draw). */
function tensor(rows: number, cols: number, dof: number, seed: number): Float32Array {
    const r = new SeededRandom(seed);
    const w = new Float32Array(rows * cols);
    if (dof === 0) return w.map(() => r.laplace(0.015));
    for (let i = 0; i < w.length; i++) {
        let chi = 0;
        for (let d = 0; d < dof; d++) chi += gauss(r) ** 2;
        w[i] = (0.02 * gauss(r)) / Math.sqrt(chi / dof);
    }
    return w;
}

describe("findModelLambda", () => {
    it("one lambda for a whole model lands within +-0.02 bits/weight of the target, as predicted", async () => {
        // tensors whose sizes at one lambda differ (tails, shapes); the last is large enough to be sampled in part
        const model = [
            { rows: 64, cols: 64, dof: 3 },
            { rows: 172, cols: 64, dof: 5 },
            { rows: 256, cols: 512, dof: 4 },
            { rows: 1100, cols: 2048, dof: 0 }
        ].map((t, i) => ({ ...t, w: tensor(t.rows, t.cols, t.dof, 100 + i) }));
        for (const codeKind of [CodeKind.E4M3, CodeKind.INT8] as const) {
            const samples: TensorRateSample[] = [];
            for (const t of model) samples.push(await sampleTensorRate(t.w, { rows: t.rows, cols: t.cols, codeKind, fraction: 1 / 8 }));
            expect(samples.map((s) => s.sampleRows)).toEqual([64, 172, 256, 138]); // an eighth, at least 2^17 weights: all rows of the small ones
            for (const target of [2.5, 3.5]) {
                const evaluations: number[][] = [];
                const found = await findModelLambda(samples, target, { onEvaluation: (l, b) => evaluations.push([l, b]) });
                expect(found.evaluations).toBe(evaluations.length);
                expect(Math.abs(found.bits - target)).toBeLessThanOrEqual(0.002);
                expect(evaluations.some(([l, b]) => l === found.lambda && b === found.bits)).toBe(true);
                // from a close guess (a re-aim) the search starts there: the answer itself takes one pass
                const again = await findModelLambda(samples, target, { guess: found.lambda });
                expect([again.lambda, again.bits, again.evaluations]).toEqual([found.lambda, found.bits, 1]);
                let bytes = 0;
                let weights = 0;
                const perTensor: number[] = [];
                for (const [i, t] of model.entries()) {
                    const q = await quantizeTensor(t.w, { rows: t.rows, cols: t.cols, codeKind, lambda: found.lambda });
                    const { stream } = await encodeStream(q.codes, { K: t.cols, N: t.rows, codeKind, scaleBase: q.scaleBase, rowScales: q.rowScales });
                    bytes += stream.length;
                    weights += t.rows * t.cols;
                    perTensor.push((stream.length * 8) / (t.rows * t.cols));
                    // fully sampled tensors are predicted to the estimate's precision; from 138 of 1100 rows, to ~0.1
                    const tol = samples[i]!.sampleRows === t.rows ? 0.01 : 0.1;
                    expect(Math.abs(found.tensorBits[i]! - perTensor[i]!), `tensor ${i}`).toBeLessThanOrEqual(tol);
                }
                const bits = (bytes * 8) / weights;
                expect(Math.abs(bits - target), `kind ${codeKind} target ${target}: ${bits} at lambda ${found.lambda}`).toBeLessThanOrEqual(0.02);
                // one lambda does not give every tensor the same size: that is the point
                expect(Math.max(...perTensor) - Math.min(...perTensor)).toBeGreaterThan(0.1);
            }
        }
    });

    it("samples every row of small models, 1/64 of mid-sized ones, and at most 2^25 weights of large ones", () => {
        expect(defaultSampleFraction(5e6)).toBe(1); // 2^22 weights would be 84%: then all of them
        expect(defaultSampleFraction(1e8)).toBeCloseTo(2 ** 22 / 1e8, 12);
        expect(defaultSampleFraction(1e9)).toBe(1 / 64);
        expect(defaultSampleFraction(70e9) * 70e9).toBeCloseTo(2 ** 25, 3);
    });

    it("refuses unreachable targets, empty sets and bad options", async () => {
        const s = await sampleTensorRate(tensor(64, 64, 3, 7), { rows: 64, cols: 64 });
        await expect(findModelLambda([s], 9.5)).rejects.toThrow(/above what these tensors reach/);
        await expect(findModelLambda([s], 0.01)).rejects.toThrow(QuantizeError);
        await expect(findModelLambda([], 3)).rejects.toThrow(/no rate samples/);
        await expect(findModelLambda([s], -1)).rejects.toThrow(/targetBits/);
        await expect(findModelLambda([{ ...s, handle: {} }], 3)).rejects.toThrow(/not a rate sample/);
        await expect(sampleTensorRate(new Float32Array(10), { rows: 2, cols: 4 })).rejects.toThrow(QuantizeError);
        await expect(sampleTensorRate(new Float32Array(8), { rows: 2, cols: 4, fraction: 0 })).rejects.toThrow(/fraction/);
    });
});
