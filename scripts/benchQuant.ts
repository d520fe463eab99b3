// Quantiser benchmark: optimiser throughput (weights/s per core) on a 4096 x 4096
// tensor of heavy-tailed synthetic weights, on 1 thread and on all, and the
// search's objective against the exhaustive optimum on a slice of rows.
// Usage: npm run bench:quant [-- --size 4096 --lambda 14.5 --reps 3]
import { availableParallelism, cpus } from "node:os";
import { parseArgs } from "node:util";

import { CodeKind, QuantMethod } from "../src/native/binding.js";
import { quantizeTensor, type QuantizeTensorOptions } from "../src/quant/quantizeTensor.js";

const { values } = parseArgs({
    options: {
        size: { type: "string", default: "4096" },
        lambda: { type: "string", default: "14.5" },
        reps: { type: "string", default: "3" },
        "check-rows": { type: "string", default: "32" }
    }
});
const N = Number(values.size);
const K = N;
const lambda = Number(values.lambda);
const reps = Number(values.reps);
const checkRows = Number(values["check-rows"]);

// Student-t (4 degrees of freedom) weights with log-normal row scales, like
// trained LLM linear layers. A plain xorshift here: 16M weights x 6 draws
// would take minutes with the tests' BigInt SplitMix64.
let state = 0x2545f491;
function uniform(): number {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 0.5) / 4294967296;
}
const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
const w = new Float32Array(N * K);
for (let r = 0; r < N; r++) {
    const sd = 0.02 * Math.exp(0.3 * gauss());
    for (let k = 0; k < K; k++) {
        let chi = 0;
        for (let d = 0; d < 4; d++) chi += gauss() ** 2;
        w[r * K + k] = (sd * gauss()) / Math.sqrt(chi / 4);
    }
}

const all = availableParallelism();
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`machine: ${cpus()[0]?.model ?? "?"}, ${all} threads; tensor ${N} x ${K} Student-t(4); lambda ${lambda}`);
console.log("| codes | method | threads | time (s) | M weights/s | M weights/s per core | bits/weight | entropy | rel. L2 | fell back |");
console.log("|---|---|---|---|---|---|---|---|---|---|");
for (const codeKind of [CodeKind.E4M3, CodeKind.INT8] as const) {
    const runs: [string, Partial<QuantizeTensorOptions>][] = [
        [`L1 lambda ${lambda}`, { method: QuantMethod.L1, lambda }],
        ["L1 target 3.0 bits", { method: QuantMethod.L1, targetBits: 3 }],
        ["ECQ target 3.0 bits", { method: QuantMethod.Ecq, targetBits: 3 }],
        ["absmax", { method: QuantMethod.Absmax }]
    ];
    for (const [name, opts] of runs) {
        for (const threads of [1, all]) {
            if (threads === all && all === 1) continue;
            const times: number[] = [];
            let q;
            for (let i = 0; i < reps; i++) {
                const t0 = performance.now();
                q = await quantizeTensor(w, { rows: N, cols: K, codeKind, threads, ...opts });
                times.push((performance.now() - t0) / 1000);
            }
            const t = median(times);
            const rate = (N * K) / t / 1e6;
            console.log(
                `| ${CodeKind[codeKind]} | ${name} | ${threads} | ${t.toFixed(3)} | ${rate.toFixed(1)} | ${(rate / threads).toFixed(1)} | ` +
                    `${q!.bitsPerWeight.toFixed(3)} | ${q!.entropyBits.toFixed(3)} | ${q!.error.relL2.toFixed(4)} | ${q!.fellBack} |`
            );
        }
    }
}

// how close the fast search comes to the best stored scale, on the first rows
const slice = w.subarray(0, checkRows * K);
console.log(`\nsearch vs exhaustive (every stored f16 scale) on the first ${checkRows} rows: objective L`);
console.log("| codes | lambda | fast | exhaustive | fast / exhaustive - 1 |");
console.log("|---|---|---|---|---|");
for (const codeKind of [CodeKind.E4M3, CodeKind.INT8] as const) {
    for (const l of [3.9, 14.5, 58]) {
        const o = { rows: checkRows, cols: K, codeKind, lambda: l, fallbackGap: 0 };
        const fast = await quantizeTensor(slice, o);
        const ex = await quantizeTensor(slice, { ...o, exhaustive: true });
        console.log(`| ${CodeKind[codeKind]} | ${l} | ${fast.objective.toFixed(6)} | ${ex.objective.toFixed(6)} | ${(fast.objective / ex.objective - 1).toExponential(2)} |`);
    }
}
