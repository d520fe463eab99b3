import { describe, expect, it } from "vitest";

import { CodeKind, QuantMethod } from "../../src/native/binding.js";
import { quantizeTensor, type QuantizedTensor } from "../../src/quant/quantizeTensor.js";
import { quantObjective } from "../../src/quant/quantObjective.js";
import { QuantizeError } from "../../src/quant/QuantizeError.js";
import { roundToCodes } from "../../src/quant/roundToCodes.js";
import { encodeStream } from "../../src/stream/encodeStream.js";
import { e4m3ToNumber, f16ToNumber } from "../helpers/f16.js";
import { SeededRandom } from "../helpers/seededRandom.js";

const kinds = [CodeKind.E4M3, CodeKind.INT8] as const;

/** Non-negative grid values of a kind, ascending (level j has code j). */
function levels(kind: CodeKind): number[] {
    return kind === CodeKind.E4M3 ? Array.from({ length: 127 }, (_, j) => e4m3ToNumber(j)) : Array.from({ length: 128 }, (_, j) => j);
}

/** Reference rounding, straight from the definition: nearest grid value, ties to the even code, saturating. */
function refCode(x: number, kind: CodeKind): number {
    const g = levels(kind);
    const a = Math.abs(x);
    let best = 0;
    if (a >= g[g.length - 1]!) best = g.length - 1; // saturation (distances to huge values tie in double)
    else for (let j = 1; j < g.length; j++) {
        const d = Math.abs(a - g[j]!);
        const db = Math.abs(a - g[best]!);
        if (d < db || (d === db && j % 2 === 0)) best = j;
    }
    if (best === 0 || x > 0) return best;
    return kind === CodeKind.E4M3 ? 0x80 | best : (256 - best) & 0xff;
}

function codeValue(c: number, kind: CodeKind): number {
    return kind === CodeKind.E4M3 ? e4m3ToNumber(c) : (c << 24) >> 24;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The f32 next to x (x a float32 value >= 0) towards +inf (dir 1) or 0 (dir -1). */
function nextF32(x: number, dir: 1 | -1): number {
    f32[0] = x;
    u32[0] = u32[0]! + dir;
    return f32[0]!;
}

function gauss(r: SeededRandom): number {
    return Math.sqrt(-2 * Math.log(r.uniform())) * Math.cos(2 * Math.PI * r.uniform());
}

/** Heavy-tailed weights: Student-t (4 degrees of freedom) rows with log-normal row scales. */
function heavyTailed(rows: number, cols: number, seed: number): Float32Array {
    const r = new SeededRandom(seed);
    const w = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) {
        const sd = 0.02 * Math.exp(0.3 * gauss(r));
        for (let k = 0; k < cols; k++) {
            let chi = 0;
            for (let d = 0; d < 4; d++) chi += gauss(r) ** 2;
            w[i * cols + k] = (sd * gauss(r)) / Math.sqrt(chi / 4);
        }
    }
    return w;
}

async function codedBitsPerWeight(q: QuantizedTensor): Promise<number> {
    const { stream } = await encodeStream(q.codes, { K: q.cols, N: q.rows, codeKind: q.codeKind, scaleBase: q.scaleBase, rowScales: q.rowScales });
    return (stream.length * 8) / (q.rows * q.cols);
}

describe("rounding to codes", () => {
    for (const kind of kinds) {
        const name = CodeKind[kind];
        it(`${name}: every grid value, every midpoint (ties to even) and its neighbours, saturation`, () => {
            const g = levels(kind);
            const xs: number[] = [];
            for (let j = 0; j < g.length; j++) {
                xs.push(g[j]!, -g[j]!);
                if (j + 1 < g.length) {
                    const m = (g[j]! + g[j + 1]!) / 2;
                    xs.push(m, -m, nextF32(m, 1), -nextF32(m, 1), nextF32(m, -1), -nextF32(m, -1));
                }
            }
            const top = g[g.length - 1]!;
            xs.push(top * 1.03, top * 1.5, -top * 2, 1e30, -1e30, Infinity, -Infinity, 1e-40, -1e-40, -0);
            const got = roundToCodes(Float32Array.from(xs), kind);
            xs.forEach((x, i) => expect(got[i], `x = ${x}`).toBe(refCode(Math.fround(x), kind)));
            // the midpoints really are ties going to the even code
            for (let j = 0; j + 1 < g.length; j++) {
                const m = (g[j]! + g[j + 1]!) / 2;
                expect(roundToCodes(Float32Array.of(m), kind)[0]).toBe(j % 2 === 0 ? j : j + 1);
            }
            expect(roundToCodes(Float32Array.of(Infinity), kind)[0]).toBe(kind === CodeKind.E4M3 ? 0x7e : 127);
            expect(roundToCodes(Float32Array.of(-0), kind)[0]).toBe(0);
        });

        it(`${name}: random values across the whole range match the reference`, () => {
            const r = new SeededRandom(kind + 17);
            const xs = Float32Array.from({ length: 20000 }, () => (r.uniform() < 0.5 ? -1 : 1) * 2 ** (r.uniform() * 24 - 14));
            const got = roundToCodes(xs, kind);
            xs.forEach((x, i) => expect(got[i], `x = ${x}`).toBe(refCode(x, kind)));
        });
    }
});

describe("quantizeTensor", () => {
    it("objective: native value equals a plain evaluation of the formula, and codes are round(w / stored scale)", async () => {
        for (const kind of kinds) {
            for (const [rows, cols, seed] of [[3, 5, 1], [8, 33, 2], [17, 64, 3]] as const) {
                const w = heavyTailed(rows, cols, seed);
                const lambda = 14.5;
                const q = await quantizeTensor(w, { rows, cols, codeKind: kind, lambda });
                let absErr = 0;
                let absW = 0;
                let absQ = 0;
                for (let r = 0; r < rows; r++) {
                    const s = q.scaleBase * f16ToNumber(q.rowScales[r]!);
                    const x = new Float32Array(cols);
                    for (let k = 0; k < cols; k++) x[k] = w[r * cols + k]! / s; // f32 division, as the quantiser does
                    const want = roundToCodes(x, kind);
                    for (let k = 0; k < cols; k++) {
                        const c = q.codes[r * cols + k]!;
                        expect(c).toBe(want[k]);
                        expect(c).toBe(refCode(x[k]!, kind));
                        const v = codeValue(c, kind);
                        absErr += Math.abs(w[r * cols + k]! - s * v);
                        absW += Math.abs(w[r * cols + k]!);
                        absQ += Math.abs(v);
                    }
                }
                const L = absErr / absW + lambda * (kind === CodeKind.E4M3 ? 4 : 1 / 128) * (absQ / (rows * cols));
                const native = quantObjective(w, q, lambda);
                expect(Math.abs(native.objective - L)).toBeLessThanOrEqual(1e-12 * L);
                expect(Math.abs(q.objective - L)).toBeLessThanOrEqual(1e-12 * L);
                expect(Math.abs(native.relL1 - absErr / absW)).toBeLessThanOrEqual(1e-12);
            }
        }
    });

    it("optimised scales give a lower objective than absmax for every lambda > 0, and size never grows with lambda", async () => {
        const [rows, cols] = [64, 256];
        const w = heavyTailed(rows, cols, 42);
        for (const kind of kinds) {
            let prevBits = Infinity;
            for (const lambda of [0.5, 2, 3.9, 8, 14.5, 30, 58, 120]) {
                const opt = await quantizeTensor(w, { rows, cols, codeKind: kind, lambda });
                const abs = await quantizeTensor(w, { rows, cols, codeKind: kind, lambda, method: QuantMethod.Absmax });
                expect(opt.method).toBe(QuantMethod.L1);
                expect(abs.method).toBe(QuantMethod.Absmax);
                expect(opt.objective, `kind ${kind} lambda ${lambda}`).toBeLessThan(quantObjective(w, abs, lambda).objective);
                const bits = await codedBitsPerWeight(opt);
                expect(bits, `kind ${kind} lambda ${lambda}`).toBeLessThanOrEqual(prevBits);
                expect(Math.abs(bits - opt.bitsPerWeight)).toBeLessThan(0.01);
                prevBits = bits;
            }
        }
    });

    it("target rate lands within +-0.05 bits/weight of the encoded stream", async () => {
        for (const [rows, cols] of [[172, 64], [256, 512], [1536, 1024]] as const) {
            const w = heavyTailed(rows, cols, rows + cols);
            for (const kind of kinds) {
                for (const targetBits of [2, 2.5, 3.5]) {
                    const q = await quantizeTensor(w, { rows, cols, codeKind: kind, targetBits });
                    const bits = await codedBitsPerWeight(q);
                    expect(Math.abs(bits - targetBits), `[${rows}, ${cols}] kind ${kind} target ${targetBits}: ${bits}`).toBeLessThanOrEqual(0.05);
                }
            }
        }
        const w = heavyTailed(128, 256, 5);
        const ecq = await quantizeTensor(w, { rows: 128, cols: 256, method: QuantMethod.Ecq, targetBits: 2.5 });
        expect(Math.abs((await codedBitsPerWeight(ecq)) - 2.5)).toBeLessThanOrEqual(0.05);
    });

    it("falls back to absmax on a planted super weight, and says so", async () => {
        const [rows, cols] = [64, 128];
        const w = heavyTailed(rows, cols, 8);
        const plain = await quantizeTensor(w, { rows, cols });
        expect(plain.fellBack).toBe(false);
        const max = w.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        w[30 * cols + 7] = 50 * max;
        const q = await quantizeTensor(w, { rows, cols, tensor: "blk.2.ffn_down.weight" });
        expect(q.fellBack).toBe(true);
        expect(q.method).toBe(QuantMethod.Absmax);
        expect(q.outlierGap).toBeGreaterThanOrEqual(50);
        const s = q.scaleBase * f16ToNumber(q.rowScales[30]!);
        expect(Math.abs(e4m3ToNumber(q.codes[30 * cols + 7]!) * s - 50 * max)).toBeLessThanOrEqual(0.0625 * 50 * max);
        expect((await quantizeTensor(w, { rows, cols, fallbackGap: 0 })).fellBack).toBe(false);
    });

    it("refuses bad input with typed errors naming the tensor", async () => {
        const w = heavyTailed(4, 8, 1);
        const err = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as QuantizeError);
        let e = await err(quantizeTensor(w, { rows: 4, cols: 9, tensor: "t" }));
        expect(e).toBeInstanceOf(QuantizeError);
        expect(e?.code).toBe("SHAPE");
        expect(e?.message).toMatch(/tensor "t".*32 values/);
        e = await err(quantizeTensor(w, { rows: 0, cols: 8 }));
        expect(e?.code).toBe("SHAPE");
        e = await err(quantizeTensor(w, { rows: 4, cols: 8, lambda: -1 }));
        expect(e?.code).toBe("OPTIONS");
        e = await err(quantizeTensor(w, { rows: 4, cols: 8, method: QuantMethod.Absmax, targetBits: 3 }));
        expect(e?.code).toBe("OPTIONS");
        const bad = w.slice();
        bad[13] = NaN;
        e = await err(quantizeTensor(bad, { rows: 4, cols: 8, tensor: "blk.0.attn_q.weight" }));
        expect(e?.code).toBe("NONFINITE");
        expect(e?.message).toMatch(/blk\.0\.attn_q\.weight.*row 1, column 5.*NaN/);
        e = await err(quantizeTensor(w, { rows: 4, cols: 8, targetBits: 0.5 }));
        expect(e?.code).toBe("TARGET");
        expect(e?.message).toMatch(/below what this tensor reaches/);
    });
});
