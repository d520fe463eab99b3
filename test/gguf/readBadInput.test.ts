import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { GgufValue } from "../../src/gguf/GgufFileInfo.js";
import { GgufFormatError, type GgufFormatErrorCode } from "../../src/gguf/GgufFormatError.js";
import { GgufValueType } from "../../src/gguf/GgufValueType.js";
import { GgmlType } from "../../src/gguf/ggmlTypes.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { writeGguf } from "../../src/gguf/writeGguf.js";

let dir: string;
let good: Buffer;
let lastTensorEnd: number;

// A small valid file: metadata of a few kinds, then tensors "head.w" (f32 [8, 2]), "q8.w" (q8_0 [64]) and "tail.w" (f16 [16]).
beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "entgguf-gguf-bad-"));
    const metadata = new Map<string, GgufValue>([
        ["general.architecture", { type: GgufValueType.STRING, value: "llama" }],
        ["flag.key", { type: GgufValueType.BOOL, value: true }],
        ["general.alignment", { type: GgufValueType.UINT32, value: 64 }],
        ["list.key", { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, items: Int32Array.of(1, 2, 3) }]
    ]);
    const tensors = [
        { name: "head.w", type: GgmlType.F32, dims: [8, 2] },
        { name: "q8.w", type: GgmlType.Q8_0, dims: [64] },
        { name: "tail.w", type: GgmlType.F16, dims: [16] }
    ];
    const file = path.join(dir, "good.gguf");
    const info = await writeGguf(file, { metadata, tensors }, (t) => new Uint8Array(t.type === GgmlType.F32 ? 64 : t.type === GgmlType.Q8_0 ? 68 : 32).fill(0x5a));
    good = await fs.readFile(file);
    const last = info.tensors.at(-1)!;
    lastTensorEnd = last.fileOffset + last.byteSize;
    expect(lastTensorEnd).toBeLessThan(good.length); // the last tensor is padded, so cuts inside that padding stay valid
});
afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
});

let n = 0;
/** Writes `bytes` to a fresh file, reads it, and returns the error (expecting a GgufFormatError that names the file); checks nothing else appeared. */
async function readError(bytes: Uint8Array): Promise<GgufFormatError> {
    const file = path.join(dir, `bad-${n++}.gguf`);
    await fs.writeFile(file, bytes);
    const before = (await fs.readdir(dir)).sort();
    const err = await readGguf(file).then(async (r) => {
        await r.close();
        return undefined;
    }, (e: unknown) => e);
    expect((await fs.readdir(dir)).sort()).toEqual(before);
    expect(err).toBeInstanceOf(GgufFormatError);
    const e = err as GgufFormatError;
    expect(e.file).toBe(file);
    expect(e.message.startsWith(`${file}: `)).toBe(true);
    return e;
}

async function expectError(bytes: Uint8Array, code: GgufFormatErrorCode, message: RegExp): Promise<void> {
    const e = await readError(bytes);
    expect(e.code, e.message).toBe(code);
    expect(e.message).toMatch(message);
}

function patched(edit: (b: Buffer) => void): Buffer {
    const b = Buffer.from(good);
    edit(b);
    return b;
}

/** Position just after the string field holding `text` (a key or tensor name), i.e. where its type/dims follow. */
function after(b: Buffer, text: string): number {
    const at = b.indexOf(Buffer.from(text, "utf8"));
    expect(at).toBeGreaterThan(0);
    expect(b.readBigUInt64LE(at - 8)).toBe(BigInt(Buffer.byteLength(text)));
    return at + Buffer.byteLength(text);
}

/** Tensor info fields of `name`: positions of n_dims, the first dim, the type and the offset. */
function tensorFields(b: Buffer, name: string) {
    const nDims = after(b, name);
    const dims = b.readUInt32LE(nDims);
    const type = nDims + 4 + 8 * dims;
    return { nDims, dim0: nDims + 4, type, offset: type + 4 };
}

describe("readGguf refuses bad input with one clear error naming the file", () => {
    it("accepts the unmodified file", async () => {
        const file = path.join(dir, "good-copy.gguf");
        await fs.writeFile(file, good);
        const r = await readGguf(file);
        await r.close();
        expect(r.info.tensors.map((t) => t.name)).toEqual(["head.w", "q8.w", "tail.w"]);
    });

    it("not a GGUF file", async () => {
        await expectError(Buffer.from("{\"this\": \"is json\"}\n"), "NOT_GGUF", /not a GGUF file: it starts with bytes 7b227468/);
        await expectError(new Uint8Array(0), "NOT_GGUF", /not a GGUF file: only 0 bytes/);
        await expectError(Buffer.from("GGU"), "NOT_GGUF", /only 3 bytes/);
    });

    it("unsupported versions", async () => {
        await expectError(patched((b) => b.writeUInt32LE(1, 4)), "UNSUPPORTED_VERSION", /GGUF version 1, which llama.cpp no longer reads/);
        await expectError(patched((b) => b.writeUInt32LE(4, 4)), "UNSUPPORTED_VERSION", /unsupported: GGUF version 4 \(this reader takes versions 2 and 3\)/);
        await expectError(patched((b) => b.writeUInt32BE(3, 4)), "UNSUPPORTED_VERSION", /big-endian GGUF/);
    });

    it("truncated anywhere before the end of the last tensor's data", async () => {
        // every cut in the header, and a sample of cuts in the data
        const cuts = [...Array(after(good, "tail.w") + 24).keys()].filter((c) => c >= 4);
        for (let c = cuts.at(-1)!; c < lastTensorEnd; c += 7) cuts.push(c);
        cuts.push(lastTensorEnd - 1);
        for (const cut of cuts) {
            const e = await readError(good.subarray(0, cut));
            expect(e.code, `cut at ${cut}: ${e.message}`).toBe("TRUNCATED");
            expect(e.message).toMatch(/truncated/);
        }
        // cut within the last tensor's trailing padding: still a whole file
        const file = path.join(dir, "padless.gguf");
        await fs.writeFile(file, good.subarray(0, lastTensorEnd));
        await (await readGguf(file)).close();
    });

    it("counts, strings and arrays larger than the file are refused before anything is allocated for them", async () => {
        await expectError(patched((b) => b.writeBigUInt64LE(2n ** 40n, 16)), "TRUNCATED", /metadata and tensor infos \(1099511627776 entries/);
        await expectError(patched((b) => b.writeBigUInt64LE(2n ** 50n, after(b, "general.architecture") + 4)), "TRUNCATED",
            /metadata value "general.architecture" at byte \d+ needs 1125899906842624 bytes/);
        await expectError(patched((b) => b.writeBigUInt64LE(2n ** 40n, after(b, "list.key") + 8)), "TRUNCATED",
            /metadata value "list.key" \(1099511627776 items of type INT32\)/);
        await expectError(patched((b) => b.writeBigUInt64LE(2n ** 60n, after(b, "list.key") + 8)), "TRUNCATED", /item count of metadata value "list.key" at byte \d+ is 1152921504606846976, beyond 2\^53/);
    });

    it("malformed metadata", async () => {
        await expectError(patched((b) => b.writeUInt32LE(13, after(b, "flag.key"))), "BAD_METADATA", /metadata value "flag.key" at byte \d+ has unknown GGUF value type 13/);
        await expectError(patched((b) => b.writeUInt8(2, after(b, "flag.key") + 4)), "BAD_METADATA", /metadata value "flag.key" at byte \d+ is a bool of value 2/);
        await expectError(patched((b) => b.writeUInt32LE(99, after(b, "list.key") + 4)), "BAD_METADATA", /metadata value "list.key"'s item type at byte \d+ has unknown GGUF value type 99/);
        await expectError(patched((b) => b.writeUInt8(0xff, after(b, "general.architecture") + 12)), "BAD_METADATA", /metadata value "general.architecture" at byte \d+ is not valid UTF-8/);
        await expectError(patched((b) => b.write("flag", after(b, "list.key") - 8, "utf8")), "BAD_METADATA", /metadata key "flag.key" appears twice/);
        await expectError(patched((b) => b.writeUInt32LE(48, after(b, "general.alignment") + 4)), "BAD_METADATA", /general.alignment is 48, not a power of 2/);
        await expectError(patched((b) => b.writeUInt32LE(GgufValueType.INT32, after(b, "general.alignment"))), "BAD_METADATA", /general.alignment has type INT32; GGUF requires UINT32/);
    });

    it("arrays nested too deep", async () => {
        // 20 levels of [[...]] in one key: items type ARRAY, count 1, ..., innermost u8 array of 0 items
        const parts: Buffer[] = [Buffer.from("GGUF"), u32(3), u64(0), u64(1), str("deep"), u32(GgufValueType.ARRAY)];
        for (let i = 0; i < 20; i++) parts.push(u32(GgufValueType.ARRAY), u64(1));
        parts.push(u32(GgufValueType.UINT8), u64(0));
        await expectError(Buffer.concat(parts), "BAD_METADATA", /metadata value "deep"(\[0\]){16} nests arrays deeper than 16 levels/);
    });

    it("malformed tensor infos", async () => {
        await expectError(patched((b) => b.writeUInt32LE(5, tensorFields(b, "q8.w").nDims)), "BAD_TENSOR_INFO", /tensor "q8.w" has 5 dimensions, more than ggml's 4/);
        await expectError(patched((b) => b.writeBigUInt64LE(33n, tensorFields(b, "q8.w").dim0)), "BAD_TENSOR_INFO", /tensor "q8.w" has ne\[0\] = 33, not a multiple of q8_0's block size 32/);
        await expectError(patched((b) => b.write("head", after(b, "tail.w") - 6, "utf8")), "BAD_TENSOR_INFO", /tensor name "head.w" appears twice/);
        await expectError(patched((b) => b.writeBigUInt64LE(2n ** 62n, tensorFields(b, "head.w").dim0)), "BAD_TENSOR_INFO", /dimension 0 of tensor "head.w" at byte \d+ is 4611686018427387904, beyond 2\^53/);
    });

    it("unknown tensor types", async () => {
        await expectError(patched((b) => b.writeUInt32LE(77, tensorFields(b, "q8.w").type)), "UNKNOWN_TENSOR_TYPE", /tensor "q8.w" has ggml type 77, which is not a type of llama.cpp v0.5.0 nor entq/);
        // 4 (Q4_2) was removed from ggml
        await expectError(patched((b) => b.writeUInt32LE(4, tensorFields(b, "q8.w").type)), "UNKNOWN_TENSOR_TYPE", /ggml type 4/);
    });

    it("inconsistent offsets: misaligned, overlapping, outside the file", async () => {
        await expectError(patched((b) => b.writeBigUInt64LE(b.readBigUInt64LE(tensorFields(b, "q8.w").offset) + 32n, tensorFields(b, "q8.w").offset)),
            "BAD_OFFSETS", /tensor "q8.w" has data offset 96, not a multiple of the alignment 64/);
        await expectError(patched((b) => b.writeBigUInt64LE(0n, tensorFields(b, "tail.w").offset)),
            "BAD_OFFSETS", /tensor "head.w" \(data offset 0, 64 bytes\) overlaps tensor "tail.w" \(data offset 0\)/);
        await expectError(patched((b) => b.writeBigUInt64LE(2n ** 40n, tensorFields(b, "tail.w").offset)),
            "TRUNCATED", /tensor "tail.w" \(32 bytes at byte 1099511\d+\) ends past the end of the file at byte \d+/);
        await expectError(patched((b) => b.writeBigUInt64LE(16n, tensorFields(b, "head.w").dim0 + 8)),
            "TRUNCATED", /tensor "head.w" \(512 bytes at byte \d+\) ends past the end of the file/);
    });
});

function u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
}

function u64(v: number): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
}

function str(s: string): Buffer {
    return Buffer.concat([u64(Buffer.byteLength(s)), Buffer.from(s)]);
}
