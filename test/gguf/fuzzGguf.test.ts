// Seeded mutation fuzzing of the GGUF reader (readGguf, GgufReader) and of inspect: every
// mutated file must give a result or exactly one typed error naming the file (GgufFormatError;
// for inspect also EntqStreamError for a corrupt stream), never another exception, a hang, or
// memory out of proportion to the file. Seeds: synthetic GGUFs of every value type and several
// tensor types, and a small model coded by the converter.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { convertModel } from "../../src/convert/convertModel.js";
import type { GgufValue } from "../../src/gguf/GgufFileInfo.js";
import { GgufFormatError } from "../../src/gguf/GgufFormatError.js";
import { GgufValueType } from "../../src/gguf/GgufValueType.js";
import { GgmlType, ggmlTypes } from "../../src/gguf/ggmlTypes.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { tensorByteSize } from "../../src/gguf/tensorByteSize.js";
import { writeGguf } from "../../src/gguf/writeGguf.js";
import { inspectModel } from "../../src/inspect/inspectModel.js";
import { EntqStreamError } from "../../src/stream/EntqStreamError.js";
import { SeededRandom } from "../helpers/seededRandom.js";
import { ggufFieldMap, type GgufFieldMapResult } from "./ggufFieldMap.js";
import { randomMetadata, randomTensors } from "./syntheticGguf.js";

const SEED = 1717;
const BUDGET_MS = 10_000; // the random mutations' share of the test command's time
const HANG_MS = 2_000; // one small file taking longer than this is a hang
const MAX_RSS_GROWTH = 256 << 20; // files are a few KB: anything near this means a count was trusted

type Seed = { name: string; bytes: Buffer; map: GgufFieldMapResult };
type Outcome = "ok" | `GgufFormatError ${string}` | `EntqStreamError ${string}`;

let dir: string;
const seeds: Seed[] = [];
const sizeOf = (type: number, dims: number[]) => tensorByteSize(ggmlTypes.get(type)!, dims);

beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "entgguf-fuzz-gguf-"));
    const rng = new SeededRandom(SEED);
    for (const [i, alignment] of [undefined, 64, 32].entries()) {
        const file = path.join(dir, `seed-${i}.gguf`);
        const tensors = randomTensors(rng, 3 + i);
        await writeGguf(file, { metadata: randomMetadata(rng, alignment), tensors: tensors.map((t) => t.spec) }, (_, k) => tensors[k]!.data);
        seeds.push({ name: `synthetic-${i}`, bytes: await fs.readFile(file), map: undefined! });
    }
    // equal-length names, so that copying one over another makes a duplicate
    const twins = path.join(dir, "seed-twins.gguf");
    const twinMeta = new Map<string, GgufValue>([
        ["general.architecture", { type: GgufValueType.STRING, value: "llama" }],
        ["general.alignment", { type: GgufValueType.UINT32, value: 32 }],
        ["general.aaaaaaaaaaa", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, items: ["x", "yy", ""] }]
    ]);
    const twinTensors = ["blk.0.attn_q.weight", "blk.1.attn_q.weight", "blk.2.attn_q.weight"].map((name, k) => ({ name, type: GgmlType.F32, dims: [8, 1 + k] }));
    await writeGguf(twins, { metadata: twinMeta, tensors: twinTensors }, (t) => new Uint8Array(sizeOf(t.type, [...t.dims!])).fill(0x3f));
    seeds.push({ name: "twins", bytes: await fs.readFile(twins), map: undefined! });
    // a model coded by the converter: ENTQ streams for inspect to parse and decode
    const plain = path.join(dir, "plain.gguf");
    const w = new SeededRandom(SEED + 1);
    const specs = [
        { name: "token_embd.weight", type: GgmlType.F32, dims: [64, 8] },
        { name: "blk.0.attn_q.weight", type: GgmlType.F32, dims: [64, 16] },
        { name: "blk.0.ffn_up.weight", type: GgmlType.F32, dims: [64, 24] }
    ];
    await writeGguf(plain, { metadata: new Map([["general.architecture", { type: GgufValueType.STRING, value: "llama" }]]), tensors: specs }, (t) =>
        new Uint8Array(Float32Array.from({ length: t.dims![0]! * t.dims![1]! }, () => w.laplace(0.02)).buffer));
    const coded = path.join(dir, "coded.gguf");
    await convertModel(plain, coded, { lambda: 14.5, progress: false, threads: 1 });
    seeds.push({ name: "coded", bytes: await fs.readFile(coded), map: undefined! });
    for (const s of seeds) s.map = ggufFieldMap(s.bytes, sizeOf);
}, 120_000);

afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
});

let fileNo = 0;

/** Reads the bytes as a file, and every tensor's data when the header is accepted. */
async function readOutcome(file: string): Promise<Outcome> {
    try {
        const r = await readGguf(file);
        try {
            for (const t of r.info.tensors) await r.readTensorData(t);
        } finally {
            await r.close();
        }
        return "ok";
    } catch (e) {
        if (e instanceof GgufFormatError && e.file === file && e.message.startsWith(`${file}: `)) return `GgufFormatError ${e.code}`;
        throw e;
    }
}

async function inspectOutcome(file: string): Promise<Outcome> {
    try {
        await inspectModel(file);
        return "ok";
    } catch (e) {
        if (e instanceof GgufFormatError && e.file === file) return `GgufFormatError ${e.code}`;
        if (e instanceof EntqStreamError && e.message.startsWith(`${file}: tensor "`)) return `EntqStreamError ${e.code}`;
        throw e;
    }
}

type Tally = Map<string, number>;
const count = (t: Tally, k: string) => t.set(k, (t.get(k) ?? 0) + 1);

/** Runs one mutated input through the reader (and inspect when asked); returns the slowest call's time. */
async function tryInput(bytes: Uint8Array, what: string, tally: Tally, inspect: boolean): Promise<number> {
    const file = path.join(dir, `m-${fileNo++ % 4}.gguf`);
    await fs.writeFile(file, bytes);
    let slowest = 0;
    const calls: [string, (f: string) => Promise<Outcome>][] = [["read", readOutcome]];
    if (inspect) calls.push(["inspect", inspectOutcome]);
    for (const [name, call] of calls) {
        const t0 = performance.now();
        let outcome: Outcome;
        try {
            outcome = await call(file);
        } catch (e) {
            throw new Error(`${name} of ${what} threw ${(e as Error)?.name}: ${(e as Error)?.message} (not a typed error naming the file)`);
        }
        const ms = performance.now() - t0;
        if (ms > HANG_MS) throw new Error(`${name} of ${what} took ${ms.toFixed(0)} ms`);
        slowest = Math.max(slowest, ms);
        count(tally, `${name}: ${outcome}`);
    }
    return slowest;
}

// ---- mutations ----

const HUGE_U64 = [2n ** 32n - 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 60n, 2n ** 63n, 2n ** 64n - 1n];
const HUGE_U32 = [0xffffffff, 0x80000000, 0x10000, 65, 5, 0];

function setField(b: Buffer, at: number, size: 4 | 8, v: bigint): void {
    if (size === 4) b.writeUInt32LE(Number(v & 0xffffffffn), at);
    else b.writeBigUInt64LE(v & (2n ** 64n - 1n), at);
}

/** One random mutation of a copy of the seed; returns the bytes and a description. */
function mutate(rng: SeededRandom, seed: Seed): [Buffer, string] {
    const b = Buffer.from(seed.bytes);
    const { fields, names, dataOffset, tensorData, alignment } = seed.map;
    const inHeader = () => rng.below(dataOffset);
    switch (rng.below(9)) {
        case 0: { // bit flips, mostly in the header
            const n = 1 + rng.below(8);
            for (let i = 0; i < n; i++) {
                const at = rng.below(4) ? inHeader() : rng.below(b.length);
                b[at]! ^= 1 << rng.below(8);
            }
            return [b, `${n} bit flips`];
        }
        case 1: { // random bytes over a run
            const at = rng.below(4) ? inHeader() : rng.below(b.length);
            const n = 1 + rng.below(16);
            for (let i = at; i < Math.min(b.length, at + n); i++) b[i] = rng.below(256);
            return [b, `${n} random bytes at ${at}`];
        }
        case 2: { // a length, count, dimension or offset made huge or off by one
            const f = fields[rng.below(fields.length)]!;
            const old = f.size === 4 ? BigInt(b.readUInt32LE(f.at)) : b.readBigUInt64LE(f.at);
            const choices = f.size === 4 ? HUGE_U32.map(BigInt) : [...HUGE_U64, BigInt(b.length), BigInt(b.length - f.at)];
            const v = rng.below(3) === 0 ? old + BigInt(rng.below(3)) - 1n : choices[rng.below(choices.length)]!;
            setField(b, f.at, f.size, v);
            return [b, `${f.role} at ${f.at}: ${old} -> ${v}`];
        }
        case 3: { // a value, item or tensor type changed
            const typed = fields.filter((f) => f.role === "valueType" || f.role === "itemType" || f.role === "tensorType");
            const f = typed[rng.below(typed.length)]!;
            const v = [0, 1, 8, 9, 12, 13, 39, 100, 0xffffffff][rng.below(9)]!;
            b.writeUInt32LE(v, f.at);
            return [b, `${f.role} at ${f.at} -> ${v}`];
        }
        case 4: { // a duplicate: one name copied over another of the same length
            const pairs = names.flatMap((a, i) => names.slice(i + 1).filter((c) => c.length === a.length && c.kind === a.kind).map((c) => [a, c] as const));
            if (pairs.length === 0) return [b, "no duplicate possible"];
            const [a, c] = pairs[rng.below(pairs.length)]!;
            seed.bytes.copy(b, c.at, a.at, a.at + a.length);
            return [b, `${a.kind} name at ${a.at} copied over ${c.at}`];
        }
        case 5: { // bad alignment: general.alignment rewritten (or a tensor offset misaligned)
            const f = fields.find((x) => x.role === "alignmentValue");
            if (f && rng.below(2)) {
                const v = [0, 1, 3, 48, 2 ** 31, 0xffffffff, alignment * 2][rng.below(7)]!;
                b.writeUInt32LE(v, f.at);
                return [b, `general.alignment -> ${v}`];
            }
            const offs = fields.filter((x) => x.role === "tensorOffset");
            if (offs.length === 0) return [b, "no tensor"];
            const o = offs[rng.below(offs.length)]!;
            b.writeBigUInt64LE(b.readBigUInt64LE(o.at) + BigInt(1 + rng.below(alignment - 1)), o.at);
            return [b, `tensor offset at ${o.at} misaligned`];
        }
        case 6: { // offsets past the end, or onto another tensor
            const offs = fields.filter((x) => x.role === "tensorOffset");
            if (offs.length === 0) return [b, "no tensor"];
            const o = offs[rng.below(offs.length)]!;
            const pastEnd = BigInt(Math.ceil((b.length - dataOffset) / alignment) * alignment);
            const other = BigInt(tensorData[rng.below(tensorData.length)]!.start - dataOffset);
            const v = [pastEnd, pastEnd - BigInt(alignment), other, 2n ** 53n - BigInt(alignment)][rng.below(4)]!;
            b.writeBigUInt64LE(v, o.at);
            return [b, `tensor offset at ${o.at} -> ${v}`];
        }
        case 7: { // truncated at a random point
            const at = rng.below(b.length);
            return [b.subarray(0, at), `truncated at ${at}`];
        }
        default: { // bytes inside a tensor's data (ENTQ streams: inspect must refuse or decode them)
            if (tensorData.length === 0) return [b, "no tensor"];
            const t = tensorData[rng.below(tensorData.length)]!;
            if (t.end === t.start) return [b, "empty tensor"];
            const n = 1 + rng.below(4);
            for (let i = 0; i < n; i++) b[t.start + rng.below(t.end - t.start)]! ^= 1 << rng.below(8);
            return [b, `${n} flips in tensor data at ${t.start}`];
        }
    }
}

function report(title: string, tally: Tally, inputs: number, slowest: number, rssGrowth: number): void {
    const lines = [...tally].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `  ${String(v).padStart(7)}  ${k}`);
    console.log(`${title}: ${inputs} mutated inputs, slowest call ${slowest.toFixed(1)} ms, RSS growth ${(rssGrowth / 2 ** 20).toFixed(0)} MB\n${lines.join("\n")}`);
}

describe("GGUF reader and inspect on mutated files", () => {
    it("the seeds themselves read and inspect cleanly", async () => {
        for (const s of seeds) {
            const tally: Tally = new Map();
            await tryInput(s.bytes, s.name, tally, true);
            expect([...tally.keys()], s.name).toEqual(["read: ok", "inspect: ok"]);
        }
        expect(seeds.find((s) => s.name === "coded")!.map.tensorData.some((t) => t.type === 100)).toBe(true);
    });

    it("truncation at every structure boundary (and the bytes around it) is refused as TRUNCATED, never a crash", async () => {
        const tally: Tally = new Map();
        let inputs = 0, slowest = 0;
        for (const s of seeds) {
            const cuts = new Set<number>();
            for (const at of s.map.boundaries) for (const d of [-1, 0, 1]) if (at + d >= 0 && at + d < s.bytes.length) cuts.add(at + d);
            for (const at of cuts) {
                slowest = Math.max(slowest, await tryInput(s.bytes.subarray(0, at), `${s.name} cut at ${at}`, tally, s.name === "coded"));
                inputs++;
            }
        }
        report("truncations", tally, inputs, slowest, 0);
        // a cut inside the data of the last tensor or its padding may leave a valid file; every other cut is refused
        const refused = [...tally].filter(([k]) => k.startsWith("read: GgufFormatError")).reduce((a, [, v]) => a + v, 0);
        expect(refused).toBeGreaterThan(inputs * 0.9);
        expect([...tally.keys()].filter((k) => k.startsWith("read: GgufFormatError") && !/TRUNCATED|NOT_GGUF/.test(k))).toEqual([]);
    }, 120_000);

    it("a header claiming 2^60 array items, strings of 2^63 bytes or 2^60 tensors is refused before allocating", async () => {
        const s = seeds[0]!;
        const tally: Tally = new Map();
        const rss0 = process.memoryUsage.rss();
        let slowest = 0;
        for (const role of ["arrayCount", "stringLength", "tensorCount", "kvCount"] as const)
            for (const f of s.map.fields.filter((x) => x.role === role).slice(0, 20))
                for (const v of [2n ** 60n, 2n ** 63n, 2n ** 53n - 1n]) {
                    const b = Buffer.from(s.bytes);
                    b.writeBigUInt64LE(v, f.at);
                    slowest = Math.max(slowest, await tryInput(b, `${role} at ${f.at} = ${v}`, tally, false));
                }
        report("huge counts", tally, [...tally.values()].reduce((a, v) => a + v, 0), slowest, process.memoryUsage.rss() - rss0);
        expect([...tally.keys()].every((k) => /GgufFormatError (TRUNCATED|BAD_METADATA|BAD_TENSOR_INFO)/.test(k)), [...tally.keys()].join(", ")).toBe(true);
        expect(process.memoryUsage.rss() - rss0).toBeLessThan(MAX_RSS_GROWTH);
    }, 60_000);

    it(`random mutations for ${BUDGET_MS / 1000} s (seed ${SEED}): a result or one typed error, no hang, bounded memory`, async () => {
        const rng = new SeededRandom(SEED);
        const tally: Tally = new Map();
        const kinds: Tally = new Map();
        const rss0 = process.memoryUsage.rss();
        let peak = rss0, inputs = 0, slowest = 0;
        const t0 = performance.now();
        while (performance.now() - t0 < BUDGET_MS) {
            const seed = seeds[rng.below(seeds.length)]!;
            // 1-3 stacked mutations; inspect on the coded seed always, elsewhere one input in four
            let [bytes, what] = mutate(rng, seed);
            for (let extra = rng.below(3); extra > 0 && bytes.length === seed.bytes.length; extra--) {
                const [b2, w2] = mutate(rng, { ...seed, bytes });
                [bytes, what] = [b2, `${what}; ${w2}`];
            }
            count(kinds, what.split(/[0-9]/)[0]!.trim().split(" ").slice(0, 3).join(" "));
            slowest = Math.max(slowest, await tryInput(bytes, `input #${inputs} (${seed.name}: ${what})`, tally, seed.name === "coded" || rng.below(4) === 0));
            inputs++;
            if (inputs % 64 === 0) peak = Math.max(peak, process.memoryUsage.rss());
        }
        report("random mutations", tally, inputs, slowest, peak - rss0);
        expect(inputs).toBeGreaterThan(500);
        expect(peak - rss0).toBeLessThan(MAX_RSS_GROWTH);
        // the mutations reach many kinds of refusal (the rarest need more inputs than a slow machine gets), and some inputs still read
        expect([...tally.keys()].filter((x) => x.startsWith("read: GgufFormatError")).length).toBeGreaterThanOrEqual(5);
        expect(tally.get("read: ok")).toBeGreaterThan(0);
    }, BUDGET_MS + 60_000);

    it("a flipped bit in any coded tensor's stream: the reader reads it, inspect refuses it as EntqStreamError naming file and tensor", async () => {
        const s = seeds.find((x) => x.name === "coded")!;
        const tally: Tally = new Map();
        const rng = new SeededRandom(SEED + 2);
        let slowest = 0;
        for (const t of s.map.tensorData.filter((x) => x.type === 100))
            for (let k = 0; k < 8; k++) {
                const b = Buffer.from(s.bytes);
                b[t.start + rng.below(t.end - t.start)]! ^= 1 << rng.below(8);
                slowest = Math.max(slowest, await tryInput(b, `coded stream at ${t.start}, flip ${k}`, tally, true));
            }
        report("stream flips", tally, [...tally.values()].reduce((a, v) => a + v, 0) / 2, slowest, 0);
        const coded = s.map.tensorData.filter((x) => x.type === 100).length;
        expect(coded).toBeGreaterThan(1);
        expect(tally.get("read: ok")).toBe(8 * coded);
        expect([...tally.keys()].filter((x) => x.startsWith("inspect:")).every((x) => x.startsWith("inspect: EntqStreamError ENTQ_")), [...tally.keys()].join(", ")).toBe(true);
    });
});
