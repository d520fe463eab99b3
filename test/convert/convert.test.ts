import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { makeSyntheticModel } from "../../src/bench/makeSyntheticModel.js";
import { convertModel } from "../../src/convert/convertModel.js";
import { ENTQ_KEYS } from "../../src/convert/entqMetadata.js";
import { ENTQ_GGML_TYPE, GgmlType } from "../../src/gguf/ggmlTypes.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { writeGguf } from "../../src/gguf/writeGguf.js";
import { decodeStream } from "../../src/stream/decodeStream.js";
import { demoModel, repoRoot } from "../helpers/sharedData.js";

const stories = { path: demoModel };
const cli = join(repoRoot, "dist", "bin", "entgguf.js");
let dir: string;

beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "entgguf-convert-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runCli(args: string[]) {
    return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", timeout: 300_000 });
}

describe("convert stories260K", () => {
    for (const [codes, bits] of [["fp8", 2.5], ["int8", 4]] as const) {
        it(`at ${bits} bits/weight (${codes}): metadata kept, untouched tensors byte-identical, coded = dequantised reference`, async () => {
            const out = join(dir, `s-${codes}-${bits}.gguf`);
            const ref = join(dir, `s-${codes}-${bits}-ref.gguf`);
            const r = runCli(["convert", stories.path, "-o", out, "--bits", String(bits), "--codes", codes, "--emit-dequantized", ref, "--json"]);
            expect(r.status, r.stderr).toBe(0);
            const summary = JSON.parse(r.stdout) as { bitsPerWeight: number; fileBitsPerWeight: number; fileBytes: number; tensors: unknown[] };
            expect(summary.tensors).toHaveLength(37); // 35 linear weights, the output head, the token embeddings
            expect(Math.abs(summary.bitsPerWeight - bits)).toBeLessThan(0.05);
            // the whole file over every tensor: the norms stay F32
            const elements = (await readGguf(stories.path).then(async (g) => {
                try {
                    return g.info.tensors.reduce((a, t) => a + t.dims.reduce((x, d) => x * d, 1), 0);
                } finally {
                    await g.close();
                }
            }));
            expect(summary.fileBitsPerWeight).toBeCloseTo((summary.fileBytes * 8) / elements, 9);
            expect(summary.fileBitsPerWeight).toBeGreaterThan(summary.bitsPerWeight);

            const src = await readGguf(stories.path);
            const dst = await readGguf(out);
            const refm = await readGguf(ref);
            try {
                // metadata: every source key with the same value, plus entq.* keys
                for (const [k, v] of src.info.metadata) expect(dst.info.metadata.get(k), k).toEqual(v);
                expect([...dst.info.metadata.keys()].filter((k) => !src.info.metadata.has(k)).every((k) => k.startsWith("entq."))).toBe(true);
                expect(dst.info.metadata.get(ENTQ_KEYS.codeKind)).toMatchObject({ value: codes === "fp8" ? "e4m3" : "int8" });
                expect(dst.info.tensors.map((t) => t.name)).toEqual(src.info.tensors.map((t) => t.name));
                let coded = 0;
                for (const t of src.info.tensors) {
                    const d = dst.tensor(t.name)!;
                    const f = refm.tensor(t.name)!;
                    if (d.type !== ENTQ_GGML_TYPE) {
                        expect(d.type).toBe(t.type);
                        expect(Buffer.compare(await dst.readTensorData(d), await src.readTensorData(t)), t.name).toBe(0);
                        expect(Buffer.compare(await refm.readTensorData(f), await src.readTensorData(t)), t.name).toBe(0);
                        continue;
                    }
                    coded++;
                    expect(t.name).toMatch(/^(blk\.\d+\.(attn_(q|k|v|output)|ffn_(gate|up|down))|output|token_embd)\.weight$/);
                    const { values } = await decodeStream(await dst.readTensorData(d), "values", { K: t.dims[0], N: t.dims[1] });
                    expect(f.type).toBe(GgmlType.F32);
                    expect(f.dims).toEqual(t.dims);
                    expect(Buffer.compare(Buffer.from(values.buffer, values.byteOffset, values.byteLength), await refm.readTensorData(f)), t.name).toBe(0);
                }
                expect(coded).toBe(37);
            } finally {
                await Promise.all([src.close(), dst.close(), refm.close()]);
            }
            const inspect = runCli(["inspect", out, "--json"]);
            expect(inspect.status, inspect.stderr).toBe(0);
            const info = JSON.parse(inspect.stdout) as { fileBitsPerWeight: number; tensors: { entq?: { entropyBits: number; bitsPerWeight: number } }[] };
            expect(info.fileBitsPerWeight).toBeCloseTo(summary.fileBitsPerWeight, 12);
            const streams = info.tensors.filter((t) => t.entq);
            expect(streams).toHaveLength(37);
            for (const t of streams) expect(t.entq!.entropyBits).toBeLessThan(t.entq!.bitsPerWeight);
        });
    }

    it("--no-embeddings and --no-output-head keep those two at source precision", async () => {
        const out = join(dir, "s-no-embd-head.gguf");
        const r = runCli(["convert", stories.path, "-o", out, "--bits", "3", "--no-embeddings", "--no-output-head", "--json"]);
        expect(r.status, r.stderr).toBe(0);
        const summary = JSON.parse(r.stdout) as { tensors: { name: string }[] };
        expect(summary.tensors).toHaveLength(35);
        const [src, dst] = await Promise.all([readGguf(stories.path), readGguf(out)]);
        try {
            for (const name of ["token_embd.weight", "output.weight"]) {
                expect(dst.tensor(name)!.type, name).toBe(src.tensor(name)!.type);
                expect(Buffer.compare(await dst.readTensorData(dst.tensor(name)!), await src.readTensorData(src.tensor(name)!)), name).toBe(0);
            }
        } finally {
            await Promise.all([src.close(), dst.close()]);
        }
    });

    it("a higher rate gives a smaller error", async () => {
        const lo = await convertModel(stories.path, join(dir, "lo.gguf"), { bits: 2.5, progress: false });
        const hi = await convertModel(stories.path, join(dir, "hi.gguf"), { bits: 4, progress: false });
        const err = (s: typeof lo) => s.tensors.reduce((a, t) => a + t.relL2, 0);
        expect(err(hi)).toBeLessThan(err(lo));
        expect(hi.codedBytes).toBeGreaterThan(lo.codedBytes);
    });
});

describe("bad input: one clear error, non-zero exit, nothing written", () => {
    let model: string;
    beforeAll(async () => {
        model = join(dir, "small.gguf");
        await makeSyntheticModel(model, { layers: 2, dim: 64, ffn: 128, heads: 4, kvHeads: 2, vocab: 300, type: "f16", seed: 1 });
    });

    function expectRefused(args: string[], message: RegExp, out: string) {
        const r = runCli(args);
        expect(r.status).not.toBe(0);
        expect(r.stderr).toMatch(message);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
        expect(existsSync(out)).toBe(false);
        expect(readdirSync(dir).filter((f) => f.includes(".entgguf-tmp-"))).toEqual([]);
    }

    it("not a GGUF", () => {
        const f = join(dir, "not.gguf");
        writeFileSync(f, "this is not a model at all, not at all, not at all");
        expectRefused(["convert", f, "-o", join(dir, "o1.gguf")], /not\.gguf.*(magic|not a GGUF)/i, join(dir, "o1.gguf"));
    });

    it("truncated", () => {
        const f = join(dir, "cut.gguf");
        const bytes = readFileSync(model);
        writeFileSync(f, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
        expectRefused(["convert", f, "-o", join(dir, "o2.gguf")], /cut\.gguf.*truncated/i, join(dir, "o2.gguf"));
    });

    it("a tensor type the converter cannot read", async () => {
        const f = join(dir, "q4.gguf");
        const src = await readGguf(model);
        const t = src.info.tensors;
        // a Q4_0 attn_q: 64 columns = 2 blocks of 18 bytes per row
        await writeGguf(f, { metadata: src.info.metadata, tensors: t.map((x) => (x.name === "blk.0.attn_q.weight" ? { name: x.name, type: GgmlType.Q4_0, dims: x.dims } : x)) }, async (spec, i) =>
            spec.type === GgmlType.Q4_0 ? new Uint8Array(64 * 2 * 18) : src.readTensorData(t[i]!)
        );
        await src.close();
        expectRefused(["convert", f, "-o", join(dir, "o3.gguf")], /blk\.0\.attn_q\.weight.*q4_0/, join(dir, "o3.gguf"));
    });

    it("inconsistent offsets", () => {
        const f = join(dir, "offsets.gguf");
        const bytes = Buffer.from(readFileSync(model));
        // the first tensor info's offset field: the last 8 bytes of its record; set it past the end
        const name = Buffer.from("token_embd.weight");
        const at = bytes.indexOf(name) + name.length + 4 + 2 * 8 + 4;
        bytes.writeBigUInt64LE(BigInt(bytes.length) * 2n, at);
        writeFileSync(f, bytes);
        expectRefused(["convert", f, "-o", join(dir, "o4.gguf")], /offsets\.gguf.*(offset|truncated|past the end|outside)/i, join(dir, "o4.gguf"));
    });

    it("a missing output directory", () => {
        const out = join(dir, "no-such-dir", "o5.gguf");
        expectRefused(["convert", model, "-o", out], /no-such-dir.*does not exist/, out);
    });

    it("an input that is already coded", () => {
        const out = join(dir, "o6.gguf");
        const first = runCli(["convert", model, "-o", out]);
        expect(first.status, first.stderr).toBe(0);
        expectRefused(["convert", out, "-o", join(dir, "o7.gguf")], /already entropy-coded/, join(dir, "o7.gguf"));
    });
});

describe("interrupted conversion", () => {
    it("SIGINT and SIGTERM remove the temp file at once; SIGKILL leaves one, which the next write to that target removes", async () => {
        const model = join(dir, "mid.gguf");
        await makeSyntheticModel(model, { layers: 6, dim: 512, ffn: 1536, heads: 8, kvHeads: 4, vocab: 512, type: "f16", seed: 2 });
        for (const signal of ["SIGINT", "SIGTERM", "SIGKILL"] as const) {
            const out = join(dir, `killed-${signal}.gguf`);
            const child = spawn(process.execPath, [cli, "convert", model, "-o", out, "--threads", "1", "--lambda", "14.5"], { stdio: ["ignore", "ignore", "pipe"] });
            let stderr = "";
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            const temp = () => readdirSync(dir).filter((f) => f.startsWith(`killed-${signal}.gguf.entgguf-tmp-${child.pid}-`));
            // wait until it is writing (its temp file exists), then stop it
            const t0 = Date.now();
            while (temp().length === 0 && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
            expect(temp().length).toBe(1);
            const t1 = Date.now();
            child.kill(signal);
            const [code, sig] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on("exit", (c, s) => r([c, s])));
            expect(existsSync(out)).toBe(false);
            if (signal === "SIGKILL") {
                expect(sig).toBe("SIGKILL");
                expect(temp()).toHaveLength(1); // nothing could clean it: the next write to the target does
                await writeGguf(out, { metadata: new Map(), tensors: [] }, () => new Uint8Array(0));
                expect(temp()).toEqual([]);
                expect(existsSync(out)).toBe(true);
            } else {
                expect(code).toBe(signal === "SIGINT" ? 130 : 143);
                expect(Date.now() - t1).toBeLessThan(5_000); // at once, not after the tensor being coded
                expect(temp()).toEqual([]);
                expect(stderr.trim()).toBe(`entgguf: interrupted by ${signal}: the unfinished output was removed`);
            }
        }
    }, 300_000);
});

describe("a full disk", () => {
    it("ENOSPC mid-write: one error line naming the output and the problem, no output, no temp file", async () => {
        const model = join(dir, "disk.gguf");
        await makeSyntheticModel(model, { layers: 1, dim: 64, ffn: 128, heads: 4, kvHeads: 2, vocab: 300, type: "f16", seed: 3 });
        const out = join(dir, "full-disk.gguf");
        const inject = join(repoRoot, "test", "convert", "fixtures", "injectEnospc.mjs");
        // the file system "fills up" after 20000 bytes: inside the tensor data, after the header
        const r = spawnSync(process.execPath, ["--import", pathToFileURL(inject).href, cli, "convert", model, "-o", out, "--lambda", "14.5"], {
            encoding: "utf8",
            timeout: 300_000,
            env: { ...process.env, ENTGGUF_TEST_ENOSPC_AFTER: "20000" }
        });
        expect(r.status).toBe(1);
        expect(r.stderr.trim().split("\n")).toEqual([`entgguf: cannot write ${out}: no space left on the device (ENOSPC); nothing was written`]);
        expect(existsSync(out)).toBe(false);
        expect(readdirSync(dir).filter((f) => f.includes(".entgguf-tmp-"))).toEqual([]);
    });
});
