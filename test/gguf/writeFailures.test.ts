import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { GgufMetadata, GgufTensorSpec, GgufValue } from "../../src/gguf/GgufFileInfo.js";
import { GgufValueType } from "../../src/gguf/GgufValueType.js";
import { GgufWriteError, type GgufWriteErrorCode } from "../../src/gguf/GgufWriteError.js";
import { ENTQ_GGML_TYPE, GgmlType } from "../../src/gguf/ggmlTypes.js";
import { TempOutput } from "../../src/gguf/TempOutput.js";
import { writeGguf, type GgufTensorSource } from "../../src/gguf/writeGguf.js";

let dir: string;
beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "entgguf-gguf-wf-"));
});
afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
});

const meta = (entries: [string, GgufValue][] = []): GgufMetadata =>
    new Map<string, GgufValue>([["general.architecture", { type: GgufValueType.STRING, value: "llama" }], ...entries]);

const twoTensors: GgufTensorSpec[] = [
    { name: "a.weight", type: GgmlType.F32, dims: [4, 4] },
    { name: "b.weight", type: GgmlType.F16, dims: [8] }
];
const rightBytes: GgufTensorSource = (t) => new Uint8Array(t.type === GgmlType.F32 ? 64 : 16);

/** Runs a write that must fail; returns its error and checks the directory holds nothing (no output, no temp file). */
async function failedWrite(run: (file: string) => Promise<unknown>): Promise<unknown> {
    const file = path.join(dir, "out.gguf");
    const err = await run(file).then(() => undefined, (e: unknown) => e);
    expect(err).toBeDefined();
    expect(await fs.readdir(dir)).toEqual([]);
    return err;
}

async function expectWriteError(run: (file: string) => Promise<unknown>, code: GgufWriteErrorCode, message: RegExp): Promise<void> {
    const err = await failedWrite(run);
    expect(err).toBeInstanceOf(GgufWriteError);
    const e = err as GgufWriteError;
    expect(e.code, e.message).toBe(code);
    expect(e.message.startsWith(`cannot write ${e.file}: `)).toBe(true);
    expect(e.message).toMatch(message);
}

describe("writeGguf leaves nothing behind when it fails", () => {
    it("a data source that throws mid-way: no output file, no temp file, the error passes through", async () => {
        const boom = new Error("source failed on the second tensor");
        const err = await failedWrite((file) => writeGguf(file, { metadata: meta(), tensors: twoTensors }, (t, i) => {
            if (i === 1) throw boom;
            return rightBytes(t, i);
        }));
        expect(err).toBe(boom);
    });

    it("a data source whose chunk iterator throws after some bytes are on disk", async () => {
        const boom = new Error("read error in the middle of a tensor");
        const err = await failedWrite((file) => writeGguf(file, { metadata: meta(), tensors: twoTensors }, async function* () {
            yield new Uint8Array(40);
            throw boom;
        }));
        expect(err).toBe(boom);
    });

    it("an abort between chunks", async () => {
        const controller = new AbortController();
        const err = await failedWrite((file) => writeGguf(file, { metadata: meta(), tensors: twoTensors }, function* () {
            yield new Uint8Array(32);
            controller.abort(new Error("interrupted by the user"));
            yield new Uint8Array(32);
        }, { signal: controller.signal }));
        expect((err as Error).message).toBe("interrupted by the user");
    });

    it("a failed write keeps an existing file under the target name as it was", async () => {
        const file = path.join(dir, "out.gguf");
        await fs.writeFile(file, "previous contents");
        const err = await writeGguf(file, { metadata: meta(), tensors: twoTensors }, () => new Uint8Array(3)).catch((e: unknown) => e);
        expect((err as GgufWriteError).code).toBe("TENSOR_DATA");
        expect(await fs.readdir(dir)).toEqual(["out.gguf"]);
        expect(await fs.readFile(file, "utf8")).toBe("previous contents");
    });

    it("a successful write replaces an existing file and leaves no temp file", async () => {
        const file = path.join(dir, "out.gguf");
        await fs.writeFile(file, "previous contents");
        const info = await writeGguf(file, { metadata: meta(), tensors: twoTensors }, rightBytes);
        expect(await fs.readdir(dir)).toEqual(["out.gguf"]);
        expect((await fs.stat(file)).size).toBe(info.fileSize);
    });
});

describe("writeGguf refuses bad input with one clear error naming the file, writing nothing", () => {
    it("a missing output directory, or a target that is a directory", async () => {
        const missing = path.join(dir, "no-such-dir", "out.gguf");
        const err = await writeGguf(missing, { metadata: meta(), tensors: twoTensors }, rightBytes).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(GgufWriteError);
        expect((err as GgufWriteError).code).toBe("OUTPUT_PATH");
        expect((err as Error).message).toBe(`cannot write ${missing}: the output directory ${path.join(dir, "no-such-dir")} does not exist`);
        expect(await fs.readdir(dir)).toEqual([]);

        await fs.mkdir(path.join(dir, "out.gguf"));
        const err2 = await writeGguf(path.join(dir, "out.gguf"), { metadata: meta(), tensors: twoTensors }, rightBytes).catch((e: unknown) => e);
        expect((err2 as GgufWriteError).code).toBe("OUTPUT_PATH");
        expect((err2 as Error).message).toMatch(/out\.gguf: it is a directory$/);
        expect(await fs.readdir(dir)).toEqual(["out.gguf"]);
        expect(await fs.readdir(path.join(dir, "out.gguf"))).toEqual([]);
    });

    it("data of the wrong length", async () => {
        await expectWriteError((f) => writeGguf(f, { metadata: meta(), tensors: twoTensors }, (t, i) => (i === 0 ? new Uint8Array(63) : rightBytes(t, i))),
            "TENSOR_DATA", /tensor "a.weight": the data source gave 63 bytes, but its shape \[4, 4\] of f32 takes 64/);
        await expectWriteError((f) => writeGguf(f, { metadata: meta(), tensors: twoTensors }, () => [new Uint8Array(60), new Uint8Array(60)]),
            "TENSOR_DATA", /tensor "a.weight": the data source gave more than the 64 bytes its shape \[4, 4\] of f32 takes/);
        await expectWriteError((f) => writeGguf(f, { metadata: meta(), tensors: twoTensors }, () => ["not bytes" as unknown as Uint8Array]),
            "TENSOR_DATA", /the data source gave a string, not bytes/);
    });

    it("invalid tensor specs", async () => {
        const cases: [GgufTensorSpec[], RegExp][] = [
            [[{ name: "x", type: 77, dims: [4] }], /tensor #0 "x" has ggml type 77, which is not in ggmlTypes/],
            [[{ name: "x", type: 4, dims: [4] }], /has ggml type 4/],
            [[{ name: "x", type: GgmlType.Q8_0, dims: [33] }], /has ne\[0\] = 33, not a multiple of q8_0's block size 32/],
            [[{ name: "x", type: GgmlType.F32, dims: [1, 1, 1, 1, 1] }], /has 5 dimensions, more than ggml's 4/],
            [[{ name: "x", type: GgmlType.F32, dims: [-1] }], /has dimension -1/],
            [[{ name: "x", type: GgmlType.F32, dims: [1.5] }], /has dimension 1.5/],
            [[{ name: "x", type: GgmlType.F32 }], /has no dims, which only byte types allow, not f32/],
            [[{ name: "x", type: GgmlType.F32, dims: [1] }, { name: "x", type: ENTQ_GGML_TYPE }], /tensor #1 "x" appears twice/],
            [[{ name: "", type: GgmlType.F32, dims: [1] }], /has no name/],
            [[{ name: "n".repeat(64), type: GgmlType.F32, dims: [1] }], /has a name of 64 bytes; llama.cpp takes at most 63/]
        ];
        for (const [tensors, message] of cases)
            await expectWriteError((f) => writeGguf(f, { metadata: meta(), tensors }, () => new Uint8Array(4)), "BAD_TENSOR", message);
    });

    it("metadata values that do not fit their types", async () => {
        const cases: [GgufValue, RegExp][] = [
            [{ type: GgufValueType.UINT8, value: 256 }, /metadata value "k" is out of range for its type/],
            [{ type: GgufValueType.INT16, value: -40000 }, /out of range/],
            [{ type: GgufValueType.UINT32, value: 1.5 }, /metadata value "k" has type UINT32 but its value 1.5 \(number\) is not an integer/],
            [{ type: GgufValueType.UINT64, value: 5 as unknown as bigint }, /has type UINT64 but its value 5 \(number\) is not a bigint/],
            [{ type: GgufValueType.UINT64, value: -1n }, /out of range/],
            [{ type: GgufValueType.INT64, value: 2n ** 63n }, /out of range/],
            [{ type: GgufValueType.STRING, value: "bad \ud800 surrogate" }, /is not well-formed UTF-16/],
            [{ type: GgufValueType.BOOL, value: 1 as unknown as boolean }, /is not a boolean/],
            [{ type: 13 as GgufValueType.UINT8, value: 1 }, /metadata value "k" has unknown GGUF value type 13/],
            [{ type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, items: new Float64Array(2) } as unknown as GgufValue, /item type FLOAT32 but its items are not a Float32Array/],
            [{ type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, items: ["ok", 7] } as unknown as GgufValue, /metadata value "k"\[1\] has type STRING but its value 7/],
            [{ type: GgufValueType.ARRAY, itemType: GgufValueType.ARRAY, items: [{ type: GgufValueType.STRING, value: "x" }] } as unknown as GgufValue, /metadata value "k"\[0\] is not an array value/]
        ];
        for (const [value, message] of cases)
            await expectWriteError((f) => writeGguf(f, { metadata: meta([["k", value]]), tensors: twoTensors }, rightBytes), "BAD_METADATA", message);
        await expectWriteError((f) => writeGguf(f, { metadata: meta([["general.alignment", { type: GgufValueType.UINT32, value: 48 }]]), tensors: twoTensors }, rightBytes),
            "BAD_METADATA", /general.alignment is 48, not a power of 2/);
        await expectWriteError((f) => writeGguf(f, { metadata: meta([["general.alignment", { type: GgufValueType.UINT64, value: 64n }]]), tensors: twoTensors }, rightBytes),
            "BAD_METADATA", /general.alignment has type UINT64; GGUF requires UINT32/);
        await expectWriteError((f) => writeGguf(f, { metadata: meta([["", { type: GgufValueType.UINT8, value: 1 }]]), tensors: twoTensors }, rightBytes),
            "BAD_METADATA", /metadata key "" is not a non-empty string/);
    });

    it("final metadata that would change the header's size", async () => {
        const placeholder = meta([["entgguf.summary", { type: GgufValueType.STRING, value: "" }]]);
        await expectWriteError((f) => writeGguf(f, { metadata: placeholder, tensors: twoTensors }, rightBytes, {
            finalizeMetadata: () => meta([["entgguf.summary", { type: GgufValueType.STRING, value: "longer now" }]])
        }), "HEADER_CHANGED", /the final metadata encodes to \d+ header bytes, not the \d+ already written before the data/);
    });
});

describe("file system failures and stale temp files", () => {
    /** FileHandle.prototype.write failing with `code` once `after` bytes are written: a full disk, without filling one. */
    async function failingWrites(code: string, after: number): Promise<() => void> {
        const probe = await fs.open(path.join(dir, "probe"), "w");
        const proto = Object.getPrototypeOf(probe) as { write: (...a: unknown[]) => Promise<{ bytesWritten: number }> };
        await probe.close();
        await fs.rm(path.join(dir, "probe"));
        const original = proto.write;
        let total = 0;
        const spy = vi.spyOn(proto, "write").mockImplementation(async function (this: unknown, ...args: unknown[]) {
            const n = typeof args[2] === "number" ? args[2] : (args[0] as Uint8Array).length;
            if (total + n > after) throw Object.assign(new Error(`${code}: from the test, write`), { code, errno: -28, syscall: "write" });
            total += n;
            return original.apply(this, args);
        });
        return () => spy.mockRestore();
    }

    it("ENOSPC in the middle of the tensor data: one GgufWriteError naming the target and 'no space left', nothing left behind", async () => {
        const size = (await writeGguf(path.join(dir, "whole.gguf"), { metadata: meta(), tensors: twoTensors }, rightBytes)).fileSize;
        await fs.rm(path.join(dir, "whole.gguf"));
        for (const after of [0, Math.floor(size / 2), size - 1]) { // in the header, in the data, the last byte
            const restore = await failingWrites("ENOSPC", after);
            try {
                await expectWriteError((file) => writeGguf(file, { metadata: meta(), tensors: twoTensors }, rightBytes), "IO",
                    /: no space left on the device \(ENOSPC\); nothing was written$/);
            } finally {
                restore();
            }
        }
    });

    it("other write errors (EIO, EDQUOT, an unknown code) are GgufWriteError IO too; errors of the data source pass through", async () => {
        for (const [code, said] of [["EIO", /input\/output error/], ["EDQUOT", /quota/], ["EWHATEVER", /EWHATEVER: from the test/]] as const) {
            const restore = await failingWrites(code, 10);
            try {
                await expectWriteError((file) => writeGguf(file, { metadata: meta(), tensors: twoTensors }, rightBytes), "IO", said);
            } finally {
                restore();
            }
        }
        // a read error of the input (it has a syscall too) is not the target's fault: it passes through unchanged
        const readFail = Object.assign(new Error("EIO: i/o error, read"), { code: "EIO", syscall: "read" });
        const err = await failedWrite((file) => writeGguf(file, { metadata: meta(), tensors: twoTensors }, () => Promise.reject(readFail)));
        expect(err).toBe(readFail);
    });

    it("temp files are named <target>.entgguf-tmp-<pid>-...; a write removes those of dead writers of the same target, and only those", async () => {
        const file = path.join(dir, "out.gguf");
        // a pid that is surely dead: a child that has exited
        const child = spawn(process.execPath, ["-e", ""]);
        const dead = await new Promise<number>((r) => child.on("exit", () => r(child.pid!)));
        const seen: string[] = [];
        await writeGguf(file, { metadata: meta(), tensors: twoTensors }, async function* (t, i) {
            if (i === 0) seen.push(...(await fs.readdir(dir)));
            yield rightBytes(t, i) as Uint8Array;
        });
        const ours = seen.find((f) => f.startsWith("out.gguf.entgguf-tmp-"))!;
        expect(ours, seen.join(", ")).toMatch(new RegExp(`^out\\.gguf\\.entgguf-tmp-${process.pid}-[0-9a-f]{8}-[0-9a-f]{12}$`));
        const hostTag = ours.split("-")[3]!;
        const stale = `out.gguf.entgguf-tmp-${dead}-${hostTag}-0123456789ab`;
        const keep = [
            `out.gguf.entgguf-tmp-${process.pid}-${hostTag}-0123456789ab`, // a live writer (this process)
            `out.gguf.entgguf-tmp-${dead}-00000000-0123456789ab`, // another machine's writer: its pid means nothing here
            `other.gguf.entgguf-tmp-${dead}-${hostTag}-0123456789ab`, // another target
            "out.gguf.tmp" // not ours
        ];
        for (const f of [stale, ...keep]) await fs.writeFile(path.join(dir, f), "partial");
        await writeGguf(file, { metadata: meta(), tensors: twoTensors }, rightBytes);
        expect((await fs.readdir(dir)).sort()).toEqual(["out.gguf", ...keep].sort());
        expect(await TempOutput.removeStale(file)).toEqual([]);
    });

    it("removeAllSync (the CLI's signal handler) removes the temp files being written", async () => {
        const file = path.join(dir, "out.gguf");
        let removed: string[] = [];
        const err = await writeGguf(file, { metadata: meta(), tensors: twoTensors }, (t, i) => {
            if (i === 1) {
                removed = TempOutput.removeAllSync();
                throw new Error("stopped");
            }
            return rightBytes(t, i);
        }).catch((e: unknown) => e);
        expect((err as Error).message).toBe("stopped");
        expect(removed).toHaveLength(1);
        expect(removed[0]).toContain("out.gguf.entgguf-tmp-");
        expect(await fs.readdir(dir)).toEqual([]);
    });
});
