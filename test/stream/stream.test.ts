import { describe, expect, it } from "vitest";

import { CodeKind } from "../../src/native/binding.js";
import { decodeStream } from "../../src/stream/decodeStream.js";
import { encodeStream } from "../../src/stream/encodeStream.js";
import { EntqStreamError } from "../../src/stream/EntqStreamError.js";
import { validateStream } from "../../src/stream/validateStream.js";
import { e4m3ToNumber, f16ToNumber } from "../helpers/f16.js";
import { SeededRandom } from "../helpers/seededRandom.js";

type Dist = "uniform" | "laplace" | "one" | "twoRare";

function validCode(c: number, kind: CodeKind): boolean {
    return kind !== CodeKind.E4M3 || (c & 0x7f) !== 0x7f;
}

function makeCodes(n: number, dist: Dist, kind: CodeKind, seed: number): Uint8Array {
    const rng = new SeededRandom(seed);
    const codes = new Uint8Array(n);
    let a = 0;
    let b = 0;
    do a = rng.below(256); while (!validCode(a, kind));
    do b = rng.below(256); while (!validCode(b, kind) || b === a);
    for (let i = 0; i < n; i++) {
        let c: number;
        if (dist === "uniform") do c = rng.below(256); while (!validCode(c, kind));
        else if (dist === "laplace") {
            const m = Math.max(-126, Math.min(126, Math.round(rng.laplace(3))));
            c = kind === CodeKind.E4M3 ? Math.abs(m) | (m < 0 ? 0x80 : 0) : m & 0xff;
        } else if (dist === "one") c = a;
        else c = rng.uniform() < 1 / 10001 ? b : a;
        codes[i] = c;
    }
    return codes;
}

function unitScales(n: number): Uint16Array {
    return new Uint16Array(n).fill(0x3c00); // 1.0
}

describe("ENTQ stream through the addon", () => {
    const shapes: [number, number][] = [
        [1, 1], [2, 1], [1, 2], [31, 1], [32, 1], [33, 1], [1, 33],
        [4095, 1], [1, 4096], [4097, 1], [65, 63], [256, 300], [4096, 17]
    ];
    const dists: Dist[] = ["uniform", "laplace", "one", "twoRare"];

    it("round-trips codes exactly for every size, shape, distribution and code kind", async () => {
        let seed = 1;
        for (const [K, N] of shapes)
            for (const dist of dists)
                for (const kind of [CodeKind.INT8, CodeKind.E4M3]) {
                    const codes = makeCodes(K * N, dist, kind, seed++);
                    for (const segmentSymbols of [undefined, 64, 5000]) {
                        const { stream } = await encodeStream(codes, { K, N, codeKind: kind, scaleBase: 1, rowScales: unitScales(N), segmentSymbols });
                        const { codes: back, info } = await decodeStream(stream, "codes", { K, N });
                        expect(info.K).toBe(K);
                        expect(info.N).toBe(N);
                        expect(Buffer.compare(back, Buffer.from(codes)), `${K}x${N} ${dist} kind ${kind} seg ${segmentSymbols}`).toBe(0);
                    }
                }
    });

    it("dequantises to exactly codebook[code] x scaleBase x row scale", async () => {
        const K = 37;
        const N = 11;
        const rng = new SeededRandom(7);
        const codes = makeCodes(K * N, "laplace", CodeKind.E4M3, 3);
        // normal-range f16 scales as bit patterns, scale base a power of two
        const rowScales = Uint16Array.from({ length: N }, () => 0x3000 + rng.below(0x1000));
        const { stream } = await encodeStream(codes, { K, N, codeKind: CodeKind.E4M3, scaleBase: 2 ** -10, rowScales });
        const { values } = await decodeStream(stream, "values");
        for (let r = 0; r < N; r++) {
            const s = Math.fround(2 ** -10 * f16ToNumber(rowScales[r]));
            for (let k = 0; k < K; k++) expect(values[r * K + k]).toBe(Math.fround(e4m3ToNumber(codes[r * K + k]) * s));
        }
    });

    it("carries a custom codebook", async () => {
        const K = 100;
        const N = 3;
        const rng = new SeededRandom(11);
        const codebook = Uint16Array.from({ length: 256 }, () => rng.below(0x7c00)); // finite f16, positive
        const codes = makeCodes(K * N, "uniform", CodeKind.INT8, 5);
        const { stream } = await encodeStream(codes, { K, N, codeKind: CodeKind.Custom, codebook, scaleBase: 1, rowScales: unitScales(N) });
        const { values, info } = await decodeStream(stream, "values");
        expect(info.codeKind).toBe(CodeKind.Custom);
        for (let i = 0; i < K * N; i++) expect(values[i]).toBe(Math.fround(f16ToNumber(codebook[codes[i]])));
    });

    it("encodes a 4 M-element tensor off the main thread", async () => {
        const K = 2048;
        const N = 2048;
        const codes = makeCodes(K * N, "laplace", CodeKind.INT8, 9);
        let ticks = 0;
        const timer = setInterval(() => ticks++, 1);
        const { stream, segments, entropyBits } = await encodeStream(codes, { K, N, codeKind: CodeKind.INT8, scaleBase: 1, rowScales: unitScales(N) });
        const { codes: back } = await decodeStream(stream, "codes");
        clearInterval(timer);
        expect(Buffer.compare(back, Buffer.from(codes))).toBe(0);
        expect(segments).toBeGreaterThan(1);
        expect(stream.length * 8).toBeLessThan(K * N * entropyBits * 1.01 + 8 * 2 * N + 132 * 8 * segments + 8 * 1024);
        expect(ticks).toBeGreaterThan(0); // the event loop kept running
    });

    it("refuses an empty tensor and inconsistent arguments with clear errors", async () => {
        const opts = { codeKind: CodeKind.INT8, scaleBase: 1 };
        await expect(encodeStream(new Uint8Array(0), { ...opts, K: 0, N: 4, rowScales: unitScales(4), tensor: "blk.0.attn_q.weight" })).rejects.toThrow(
            /tensor "blk.0.attn_q.weight": encode: tensor is empty/
        );
        await expect(encodeStream(new Uint8Array(10), { ...opts, K: 3, N: 4, rowScales: unitScales(4) })).rejects.toThrow(/K x N = 12/);
        await expect(encodeStream(new Uint8Array(12), { ...opts, K: 3, N: 4, rowScales: unitScales(3) })).rejects.toThrow(/rowScales must hold N/);
        const nan = new Uint8Array(12).fill(0x7f);
        await expect(encodeStream(nan, { ...opts, codeKind: CodeKind.E4M3, K: 3, N: 4, rowScales: unitScales(4) })).rejects.toMatchObject({
            code: "ENTQ_CODEBOOK"
        });
    });

    it("refuses every truncation and bit flips without crashing", async () => {
        const K = 70;
        const N = 9;
        const codes = makeCodes(K * N, "laplace", CodeKind.INT8, 21);
        const { stream } = await encodeStream(codes, { K, N, codeKind: CodeKind.INT8, scaleBase: 1, rowScales: unitScales(N), segmentSymbols: 200 });
        await expect(validateStream(stream, { K, N })).resolves.toMatchObject({ K, N, segments: 5 });
        for (let len = 0; len < stream.length; len += 3) {
            const cut = Buffer.from(stream.subarray(0, len)); // a copy: no bytes beyond len exist
            await expect(validateStream(cut, { tensor: "w" })).rejects.toBeInstanceOf(EntqStreamError);
        }
        const rng = new SeededRandom(5);
        for (let t = 0; t < 300; t++) {
            const bad = Buffer.from(stream);
            bad[rng.below(bad.length)] ^= 1 << rng.below(8);
            await expect(validateStream(bad, { K, N })).rejects.toBeInstanceOf(EntqStreamError);
            await expect(decodeStream(bad, "codes", { K, N })).rejects.toBeInstanceOf(EntqStreamError);
        }
        await expect(validateStream(stream, { K: K + 1, N })).rejects.toMatchObject({ code: "ENTQ_SHAPE" });
        await expect(validateStream(Buffer.from("GGUF\x03\x00\x00\x00 not a stream at all, no no no"))).rejects.toMatchObject({
            code: "ENTQ_MAGIC"
        });
    });
});
