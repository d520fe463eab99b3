import { describe, expect, it } from "vitest";

import { ModelRateSplit } from "../../src/convert/ModelRateSplit.js";
import type { SourceTensorInfo } from "../../src/convert/ModelSource.js";
import { CodeKind } from "../../src/native/binding.js";
import { SeededRandom } from "../helpers/seededRandom.js";

const shapes: [number, number][] = [[512, 256], [512, 512], [512, 256], [512, 512], [512, 256], [512, 512]];

async function makeSplit() {
    const r = new SeededRandom(9);
    const weights = shapes.map(([K, N]) => new Float32Array(K * N).map(() => r.laplace(0.02)));
    const infos: SourceTensorInfo[] = shapes.map(([K, N], i) => ({ name: `t${i}`, type: 0, dims: [K, N], byteSize: 4 * K * N }));
    return ModelRateSplit.create(infos, async (t) => weights[Number(t.name.slice(1))]!, 3, { codeKind: CodeKind.E4M3, sampleFraction: 1 / 8 });
}

describe("ModelRateSplit", () => {
    it("keeps its lambda while the coded tensors meet their prediction", async () => {
        const split = await makeSplit();
        const report = split.report();
        expect(Math.abs(report.predictedBits - 3)).toBeLessThanOrEqual(0.002);
        expect(report.sampledRows).toBeLessThan(report.rows);
        for (const [K, N] of shapes) {
            expect(split.lambda).toBe(report.lambda);
            await split.coded((split.predictedBits * K * N) / 8); // exactly as predicted
        }
        expect(split.report().reaims).toEqual([]);
    });

    it("re-aims the rest when the coded tensors run over their prediction, so the whole model meets the target", async () => {
        const split = await makeSplit();
        const first = split.lambda;
        const lambdas: number[] = [];
        let bits = 0;
        let weights = 0;
        for (const [K, N] of shapes) {
            lambdas.push(split.lambda);
            // the coded stream runs 0.02 bits/weight over what was predicted at its lambda
            const predicted = split.predictedBits;
            bits += (predicted + 0.02) * K * N;
            weights += K * N;
            await split.coded(((predicted + 0.02) * K * N) / 8);
        }
        const { reaims } = split.report();
        expect(reaims.length).toBeGreaterThanOrEqual(1);
        expect(reaims[0]!.biasBits).toBeGreaterThan(0.001);
        expect(lambdas.at(-1)!).toBeGreaterThan(first); // fewer bits for the rest
        expect(reaims[0]!.afterTensors).toBeGreaterThanOrEqual(1);
        // the model overshoots far less than the 0.02 it would without re-aiming
        expect(Math.abs(bits / weights - 3)).toBeLessThan(0.01);
    });
});
