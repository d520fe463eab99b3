// Codec benchmark: the reference coder on one core (native, build/entgguf_bench_codec),
// then the same work end to end through the addon (allocation, checksum, threads).
// Usage: npm run bench:codec [-- --bits 2.5 --threads 1 --reps 5 --size 4096]
import { spawnSync } from "node:child_process";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { CodeKind, getNativeBinding, packageRoot } from "../src/native/binding.js";

const { values } = parseArgs({
    options: {
        bits: { type: "string", default: "2.5" },
        threads: { type: "string", default: "1" },
        reps: { type: "string", default: "5" },
        size: { type: "string", default: "4096" }
    }
});
const K = Number(values.size);
const N = K;
const targetBits = Number(values.bits);
const threads = Number(values.threads);
const reps = Number(values.reps);

console.log(`machine: ${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores`);
console.log("== reference coder, one core (native) ==");
const nativeBench = spawnSync(join(packageRoot(), "build", "entgguf_bench_codec"), [String(targetBits), String(K), String(N), "7"], {
    stdio: "inherit"
});
if (nativeBench.status !== 0) throw new Error("build/entgguf_bench_codec failed or is missing: run `npm run build:native`");
console.log(`== through the addon, ${threads} thread(s) ==`);

// rounded-Laplace INT8 codes; the Laplace scale is found by bisection on the
// exact entropy of the rounded distribution
function entropyOf(scale: number): number {
    const cdf = (v: number) => (v < 0 ? 0.5 * Math.exp(v / scale) : 1 - 0.5 * Math.exp(-v / scale));
    let h = 0;
    for (let k = -127; k <= 127; k++) {
        const p = (k === 127 ? 1 : cdf(k + 0.5)) - (k === -127 ? 0 : cdf(k - 0.5));
        if (p > 0) h -= p * Math.log2(p);
    }
    return h;
}
let lo = 0.01;
let hi = 100;
for (let i = 0; i < 60; i++) {
    const mid = Math.sqrt(lo * hi);
    if (entropyOf(mid) < targetBits) lo = mid;
    else hi = mid;
}
let state = 0x9e3779b9;
function uniform(): number {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 0.5) / 4294967296;
}
const codes = new Uint8Array(K * N);
for (let i = 0; i < codes.length; i++) {
    const u = uniform() - 0.5;
    const v = -lo * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
    codes[i] = Math.max(-127, Math.min(127, Math.round(v))) & 0xff;
}

const native = getNativeBinding();
const rowScales = new Uint16Array(N).fill(0x3c00);
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const encodeTimes: number[] = [];
const decodeTimes: number[] = [];
let stream: Buffer | undefined;
let entropyBits = 0;
for (let r = 0; r < reps; r++) {
    let t = performance.now();
    const e = await native.encode(codes, K, N, { codeKind: CodeKind.INT8, scaleBase: 1, rowScales, threads });
    encodeTimes.push(performance.now() - t);
    stream = e.stream;
    entropyBits = e.entropyBits;
    t = performance.now();
    const d = await native.decode(stream, { threads });
    decodeTimes.push(performance.now() - t);
    if (Buffer.compare(d.codes, Buffer.from(codes)) !== 0) throw new Error("round trip failed");
}
const n = K * N;
const ideal = (n * entropyBits) / 8;
console.log(`tensor: ${K} x ${N} INT8 codes, entropy ${entropyBits.toFixed(3)} bits/code`);
console.log(`coded: ${stream!.length} bytes = ${((stream!.length * 8) / n).toFixed(4)} bits/code; size / (entropy x count) = ${(stream!.length / ideal).toFixed(5)}`);
console.log(`encode: ${(n / median(encodeTimes) / 1e3).toFixed(1)} M symbols/s (median of ${reps}, ${median(encodeTimes).toFixed(1)} ms)`);
console.log(`decode: ${(n / median(decodeTimes) / 1e3).toFixed(1)} M symbols/s (median of ${reps}, ${median(decodeTimes).toFixed(1)} ms; includes checksum check)`);
