import { describe, expect, it } from "vitest";

import { GgmlType } from "../../src/gguf/ggmlTypes.js";
import { getNativeBinding } from "../../src/native/binding.js";
import { f16ToNumber } from "../helpers/f16.js";
import { SeededRandom } from "../helpers/seededRandom.js";

/** A Float32Array of n elements whose last `stored.length` bytes are `stored`, as readWeights lays out a read. */
function laidOut(n: number, stored: Uint8Array): Float32Array {
    const out = new Float32Array(n).fill(12345); // garbage in front, as a reused buffer holds
    new Uint8Array(out.buffer).set(stored, 4 * n - stored.length);
    return out;
}

describe("sourceToF32InPlace (readWeights' conversion)", () => {
    const { sourceToF32InPlace } = getNativeBinding();

    it("F16: every bit pattern, in place, equals the exact value (NaN stays NaN)", () => {
        const n = 65536 + 37; // not a multiple of the 64-element blocks
        const h = new Uint16Array(n).map((_, i) => i % 65536);
        const out = laidOut(n, new Uint8Array(h.buffer));
        expect(sourceToF32InPlace(GgmlType.F16, out, n)).toBe(n);
        for (let i = 0; i < n; i++) {
            const want = f16ToNumber(h[i]!);
            if (Number.isNaN(want)) expect(out[i]).toBeNaN();
            else expect(out[i], `f16 0x${h[i]!.toString(16)}`).toBe(want);
        }
    });

    it("BF16 and F32: the bits, in place", () => {
        const r = new SeededRandom(3);
        const n = 1000;
        const want = new Float32Array(n).map(() => r.laplace(0.02));
        const bf = new Uint16Array(n).map((_, i) => new Uint32Array(want.buffer)[i]! >>> 16);
        const out = laidOut(n, new Uint8Array(bf.buffer));
        sourceToF32InPlace(GgmlType.BF16, out, n);
        for (let i = 0; i < n; i++) expect(new Uint32Array(out.buffer)[i]).toBe(bf[i]! << 16 >>> 0);
        const f32 = laidOut(n, new Uint8Array(want.buffer.slice(0)));
        sourceToF32InPlace(GgmlType.F32, f32, n);
        expect(f32).toEqual(want);
    });

    it("Q8_0: f16 scale times int8, block by block, the last block overlapping its own bytes", () => {
        const r = new SeededRandom(4);
        const blocks = 41;
        const n = 32 * blocks;
        const stored = new Uint8Array(34 * blocks);
        const view = new DataView(stored.buffer);
        const want = new Float64Array(n);
        for (let b = 0; b < blocks; b++) {
            const d = 0x2000 + Math.floor(r.uniform() * 0x1000); // small positive f16 scales
            view.setUint16(34 * b, d, true);
            for (let j = 0; j < 32; j++) {
                const q = Math.floor(r.uniform() * 256) - 128;
                view.setInt8(34 * b + 2 + j, q);
                want[32 * b + j] = Math.fround(Math.fround(f16ToNumber(d)) * q);
            }
        }
        const out = laidOut(n, stored);
        sourceToF32InPlace(GgmlType.Q8_0, out, n);
        expect(Array.from(out)).toEqual(Array.from(want));
        expect(() => sourceToF32InPlace(GgmlType.Q8_0, out, 33)).toThrow(/Q8_0 blocks/);
        expect(() => sourceToF32InPlace(GgmlType.Q4_0, out, 32)).toThrow(/not F32, F16, BF16 or Q8_0/);
        expect(() => sourceToF32InPlace(GgmlType.F16, out, n + 1)).toThrow(/past the end/);
    });
});
