import { describe, expect, it } from "vitest";

import { CodeKind } from "../../src/native/binding.js";
import { findModelLambda } from "../../src/quant/findModelLambda.js";
import { quantizeTensor } from "../../src/quant/quantizeTensor.js";
import { QuantizeError } from "../../src/quant/QuantizeError.js";
import { tensorRateCurve, type TensorRateCurve } from "../../src/quant/tensorRateCurve.js";
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
    it("one lambda for a whole model lands within +-0.05 bits/weight of the target", async () => {
        // tensors whose sizes at one lambda differ (tails, shapes); the last is large enough to be sampled
        const model = [
            { rows: 64, cols: 64, dof: 3 },
            { rows: 172, cols: 64, dof: 5 },
            { rows: 256, cols: 512, dof: 4 },
            { rows: 1100, cols: 2048, dof: 0 }
        ].map((t, i) => ({ ...t, w: tensor(t.rows, t.cols, t.dof, 100 + i) }));
        for (const codeKind of [CodeKind.E4M3, CodeKind.INT8] as const) {
            const curves: TensorRateCurve[] = [];
            for (const t of model) curves.push(await tensorRateCurve(t.w, { rows: t.rows, cols: t.cols, codeKind }));
            for (const c of curves) for (let i = 1; i < c.bits.length; i++) expect(c.bits[i]).toBeLessThanOrEqual(c.bits[i - 1]!);
            for (const target of [2.5, 3.5]) {
                const lambda = findModelLambda(curves, target);
                let bytes = 0;
                let weights = 0;
                const perTensor: number[] = [];
                for (const t of model) {
                    const q = await quantizeTensor(t.w, { rows: t.rows, cols: t.cols, codeKind, lambda });
                    const { stream } = await encodeStream(q.codes, { K: t.cols, N: t.rows, codeKind, scaleBase: q.scaleBase, rowScales: q.rowScales });
                    bytes += stream.length;
                    weights += t.rows * t.cols;
                    perTensor.push((stream.length * 8) / (t.rows * t.cols));
                }
                const bits = (bytes * 8) / weights;
                expect(Math.abs(bits - target), `kind ${codeKind} target ${target}: ${bits} at lambda ${lambda}`).toBeLessThanOrEqual(0.05);
                // one lambda does not give every tensor the same size: that is the point
                expect(Math.max(...perTensor) - Math.min(...perTensor)).toBeGreaterThan(0.1);
            }
        }
    });

    it("refuses unreachable targets and mismatched curves", () => {
        const a: TensorRateCurve = { weights: 100, lambdas: [1, 2, 4], bits: Float64Array.of(5, 4, 3), fellBack: false };
        const b: TensorRateCurve = { weights: 300, lambdas: [1, 2, 4], bits: Float64Array.of(4, 3, 2), fellBack: false };
        expect(findModelLambda([a, b], 3.25)).toBeCloseTo(2, 12); // model: 4.25, 3.25, 2.25
        expect(findModelLambda([a, b], 2.75)).toBeCloseTo(2 ** 1.5, 12);
        expect(() => findModelLambda([a, b], 5)).toThrow(QuantizeError);
        expect(() => findModelLambda([a, b], 2)).toThrow(/below the model's 2.250/);
        expect(() => findModelLambda([a, { ...b, lambdas: [1, 2, 8] }], 3)).toThrow(/same lambdas/);
    });
});
