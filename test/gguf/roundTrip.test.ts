import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { readGgufFileInfo } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { GgufMetadata, GgufValue } from "../../src/gguf/GgufFileInfo.js";
import { GgufValueType } from "../../src/gguf/GgufValueType.js";
import { ENTQ_GGML_TYPE, GgmlType } from "../../src/gguf/ggmlTypes.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { writeGguf } from "../../src/gguf/writeGguf.js";
import { demoModel } from "../helpers/sharedData.js";
import { SeededRandom } from "../helpers/seededRandom.js";
import { randomMetadata, randomTensors, type SyntheticTensor } from "./syntheticGguf.js";

let dir: string;
beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "entgguf-gguf-rt-"));
});
afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
});

/** Reads `src` and writes it to `dst` through the streaming API (small chunks, so chunking is exercised). */
async function rewrite(src: string, dst: string, chunkBytes: number): Promise<void> {
    const reader = await readGguf(src);
    try {
        const { version, metadata, tensors } = reader.info;
        await writeGguf(dst, { version, metadata, tensors }, (t) => reader.readTensorChunks(t.name, chunkBytes));
    } finally {
        await reader.close();
    }
}

/** A metadata value as plain JS, the way node-llama-cpp's reader gives it (64-bit integers as bigint). */
function plain(v: GgufValue): unknown {
    if (v.type !== GgufValueType.ARRAY) return v.value;
    if (v.itemType === GgufValueType.ARRAY) return v.items.map(plain);
    return Array.from(v.items as ArrayLike<unknown>);
}

/** Checks our reading of `file` against node-llama-cpp's independent parser: every key, value, tensor shape, type and offset. */
async function expectSameAsNodeLlamaCpp(file: string, metadata: GgufMetadata): Promise<void> {
    const theirs = await readGgufFileInfo(file, { readTensorInfo: true, logWarnings: false });
    const ours = await readGguf(file);
    try {
        expect(theirs.tensorInfo?.map((t) => [t.name, t.dimensions.map(Number), t.ggmlType, Number(t.fileOffset)]))
            .toEqual(ours.info.tensors.map((t) => [t.name, t.dims, t.type, t.fileOffset]));
        expect(ours.info.metadata.size).toBe(metadata.size);
        for (const [key, value] of metadata) {
            let node: unknown = theirs.metadata;
            for (const part of key.split(".")) node = (node as Record<string, unknown>)[part];
            expect(plain(ours.info.metadata.get(key)!), key).toEqual(plain(value));
            expect(node, key).toEqual(plain(value));
        }
    } finally {
        await ours.close();
    }
}

async function writeSynthetic(file: string, metadata: GgufMetadata, tensors: SyntheticTensor[]) {
    return writeGguf(file, { metadata, tensors: tensors.map((t) => t.spec) }, (_, i) => {
        const data = tensors[i]!.data;
        // as uneven chunks, the way a streaming producer would give them
        return (function* () {
            for (let at = 0, step = 1; at < data.length; at += step, step = step * 3 + 1) yield data.subarray(at, at + step);
        })();
    });
}

describe("GGUF round trip", () => {
    it("stories260K.gguf: read -> write gives the same bytes", async () => {
        const out = path.join(dir, "stories.gguf");
        await rewrite(demoModel, out, 4096);
        const [a, b] = await Promise.all([fs.readFile(demoModel), fs.readFile(out)]);
        expect(b.length).toBe(a.length);
        expect(b.equals(a)).toBe(true);

        const reader = await readGguf(demoModel);
        try {
            expect(reader.info.version).toBe(3);
            expect(reader.info.tensors).toHaveLength(48);
            expect(reader.info.metadata.get("general.architecture")).toEqual({ type: GgufValueType.STRING, value: "llama" });
            expect(reader.info.tensors.every((t) => t.type === GgmlType.F32)).toBe(true);
            // tensor bytes are the file's bytes at the tensor's offset
            const t = reader.tensor("blk.0.attn_q.weight")!;
            expect(t.dims).toEqual([64, 64]);
            expect((await reader.readTensorData(t)).equals(a.subarray(t.fileOffset, t.fileOffset + t.byteSize))).toBe(true);
            expect((await reader.readTensorData(t, { start: 100, length: 7 })).equals(a.subarray(t.fileOffset + 100, t.fileOffset + 107))).toBe(true);
            await expectSameAsNodeLlamaCpp(demoModel, reader.info.metadata);
        } finally {
            await reader.close();
        }
    });

    for (const seed of [1, 2, 3, 4, 5]) {
        it(`synthetic GGUF with every metadata value type, seed ${seed}: write -> read gives the same contents, rewrite the same bytes`, async () => {
            const rng = new SeededRandom(seed);
            const alignment = [undefined, 1, 8, 32, 64, 4096][seed % 6];
            const metadata = randomMetadata(rng, alignment);
            const tensors = randomTensors(rng, 3 + rng.below(8));
            const first = path.join(dir, `synthetic-${seed}.gguf`);
            const written = await writeSynthetic(first, metadata, tensors);

            const reader = await readGguf(first);
            try {
                expect(reader.info).toEqual(written);
                expect([...reader.info.metadata.keys()]).toEqual([...metadata.keys()]);
                expect(reader.info.metadata).toEqual(metadata);
                expect(reader.info.alignment).toBe(alignment ?? 32);
                for (const [i, t] of reader.info.tensors.entries()) {
                    expect(t.name).toBe(tensors[i]!.spec.name);
                    expect(t.type).toBe(tensors[i]!.spec.type);
                    expect(t.dims).toEqual(tensors[i]!.spec.dims ?? [tensors[i]!.data.length]);
                    expect(t.fileOffset % reader.info.alignment).toBe(0);
                    expect(new Uint8Array(await reader.readTensorData(t))).toEqual(tensors[i]!.data);
                }
            } finally {
                await reader.close();
            }
            const second = path.join(dir, `synthetic-${seed}-again.gguf`);
            await rewrite(first, second, 7);
            expect((await fs.readFile(second)).equals(await fs.readFile(first))).toBe(true);
            await expectSameAsNodeLlamaCpp(first, metadata);
        });
    }

    it("a header of several MB (a large vocabulary) written and read as node-llama-cpp reads it", async () => {
        const rng = new SeededRandom(7);
        const tokens = Array.from({ length: 60_000 }, (_, i) => `▁tok${i}${["é", "🦙"][rng.below(2)]}`);
        const metadata = new Map<string, GgufValue>([
            ["general.architecture", { type: GgufValueType.STRING, value: "llama" }],
            ["tokenizer.ggml.tokens", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, items: tokens }],
            ["tokenizer.ggml.scores", { type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, items: Float32Array.from(tokens, () => rng.laplace(3)) }],
            ["tokenizer.ggml.token_type", { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, items: Int32Array.from(tokens, () => rng.below(6)) }],
            ["tokenizer.ggml.merges", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, items: tokens.slice(0, 40_000).map((t, i) => `${t} ${tokens[i + 1]}`) }]
        ]);
        const tensors = randomTensors(rng, 4);
        const file = path.join(dir, "vocab.gguf");
        const written = await writeSynthetic(file, metadata, tensors);
        expect(written.dataOffset).toBeGreaterThan(2 << 20);
        await expectSameAsNodeLlamaCpp(file, metadata);
        const again = path.join(dir, "vocab-again.gguf");
        await rewrite(file, again, 1 << 20);
        expect((await fs.readFile(again)).equals(await fs.readFile(file))).toBe(true);
    });

    it("entq tensors of any byte length: without dims (length from the data) or with dims [S]", async () => {
        const rng = new SeededRandom(42);
        const lengths = [1, 2, 31, 32, 33, 4095, 4096, 4097, 100_003];
        const streams = lengths.map((n) => Uint8Array.from({ length: n }, () => rng.below(256)));
        const file = path.join(dir, "entq.gguf");
        const metadata = new Map<string, GgufValue>([["general.architecture", { type: GgufValueType.STRING, value: "llama" }]]);
        const specs = streams.map((s, i) => ({ name: `blk.${i}.ffn_up.weight`, type: ENTQ_GGML_TYPE, dims: i % 2 ? [s.length] : undefined }));
        await writeGguf(file, { metadata, tensors: specs }, (_, i) => [streams[i]!.subarray(0, 5), streams[i]!.subarray(5)]);
        const reader = await readGguf(file);
        try {
            for (const [i, t] of reader.info.tensors.entries()) {
                expect(t.type).toBe(ENTQ_GGML_TYPE);
                expect(t.dims).toEqual([lengths[i]]);
                expect(t.byteSize).toBe(lengths[i]);
                expect(new Uint8Array(await reader.readTensorData(t))).toEqual(streams[i]);
                const chunks = [];
                for await (const c of reader.readTensorChunks(t, 1000)) chunks.push(c);
                expect(new Uint8Array(Buffer.concat(chunks))).toEqual(streams[i]);
            }
        } finally {
            await reader.close();
        }
    });

    it("finalizeMetadata fills in values known only after the data, at the same header size", async () => {
        const file = path.join(dir, "final.gguf");
        const metadata = new Map<string, GgufValue>([
            ["entgguf.bits_per_weight", { type: GgufValueType.FLOAT32, value: 0 }],
            ["entgguf.coded_bytes", { type: GgufValueType.UINT64, value: 0n }]
        ]);
        const data = [new Uint8Array(77).fill(7), new Uint8Array(64 * 4).fill(1)];
        const written = await writeGguf(file,
            { metadata, tensors: [{ name: "a", type: ENTQ_GGML_TYPE }, { name: "b", type: GgmlType.F32, dims: [64] }] },
            (_, i) => data[i]!,
            {
                finalizeMetadata: (tensors) => new Map<string, GgufValue>([
                    ["entgguf.bits_per_weight", { type: GgufValueType.FLOAT32, value: 2.5 }],
                    ["entgguf.coded_bytes", { type: GgufValueType.UINT64, value: BigInt(tensors[0]!.byteSize) }]
                ])
            });
        const reader = await readGguf(file);
        try {
            expect(reader.info).toEqual(written);
            expect(reader.info.metadata.get("entgguf.bits_per_weight")).toEqual({ type: GgufValueType.FLOAT32, value: 2.5 });
            expect(reader.info.metadata.get("entgguf.coded_bytes")).toEqual({ type: GgufValueType.UINT64, value: 77n });
            expect(reader.info.tensors.map((t) => [t.dims, t.offset])).toEqual([[[77], 0], [[64], 96]]);
        } finally {
            await reader.close();
        }
    });

    it("writes version 2 when asked, and a file without tensors", async () => {
        const file = path.join(dir, "v2.gguf");
        const metadata = new Map<string, GgufValue>([["general.name", { type: GgufValueType.STRING, value: "empty" }]]);
        const written = await writeGguf(file, { version: 2, metadata, tensors: [] }, () => {
            throw new Error("no tensors, so no data is asked for");
        });
        expect(written.fileSize).toBe((await fs.stat(file)).size);
        expect(written.fileSize % 32).toBe(0);
        const reader = await readGguf(file);
        try {
            expect(reader.info).toEqual(written);
            expect(reader.info.version).toBe(2);
        } finally {
            await reader.close();
        }
    });

    it("reads a tensor past 4 GiB in a sparse file (offsets beyond 32 bits)", async () => {
        const file = path.join(dir, "sparse.gguf");
        const big = 5 * 2 ** 30; // an i8 tensor of 5 GiB, then a small one after it
        const tail = Uint8Array.from({ length: 96 }, (_, i) => (i * 37) & 255);
        // the writer is not given 5 GiB: write a file whose "huge" tensor is empty, then patch its
        // dims and the next tensor's offset, and place that tensor's data by hand in a sparse file
        const small = path.join(dir, "small.gguf");
        const layout = await writeGguf(small,
            { metadata: new Map(), tensors: [{ name: "huge", type: GgmlType.I8, dims: [0] }, { name: "tail", type: GgmlType.I8, dims: [96] }] },
            (_, i) => (i === 0 ? new Uint8Array(0) : tail));
        const bytes = await fs.readFile(small);
        // patch dims of "huge" and the offset of "tail" in place (both are u64 fields after the names)
        const hugeDim = bytes.indexOf("huge") + 4 + 4;
        bytes.writeBigUInt64LE(BigInt(big), hugeDim);
        const tailOffset = bytes.indexOf("tail") + 4 + 4 + 8 + 4;
        expect(bytes.readBigUInt64LE(tailOffset)).toBe(0n);
        bytes.writeBigUInt64LE(BigInt(big), tailOffset);
        const fh = await fs.open(file, "w");
        try {
            await fh.write(bytes.subarray(0, layout.dataOffset), 0, layout.dataOffset, 0);
            await fh.write(tail, 0, tail.length, layout.dataOffset + big);
        } finally {
            await fh.close();
        }
        const reader = await readGguf(file);
        try {
            const t = reader.tensor("tail")!;
            expect(t.fileOffset).toBe(layout.dataOffset + big);
            expect(t.fileOffset).toBeGreaterThan(2 ** 32);
            expect(new Uint8Array(await reader.readTensorData(t))).toEqual(tail);
            expect(reader.tensor("huge")!.byteSize).toBe(big);
            expect(new Uint8Array(await reader.readTensorData("huge", { start: big - 3, length: 3 }))).toEqual(new Uint8Array(3));
        } finally {
            await reader.close();
        }
    });
});
