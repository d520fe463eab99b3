// Bad Hugging Face folders: one HfInputError each, naming the file and the problem,
// and nothing written (no output, no temp file).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { exportHfFolder } from "../../src/bench/exportHfFolder.js";
import { convertModel } from "../../src/convert/convertModel.js";
import { HfInputError, type HfInputErrorCode } from "../../src/hf/HfInputError.js";
import { permuteQkRows } from "../../src/hf/permuteQkRows.js";
import { hfModelMetadata } from "../../src/hf/hfModelMetadata.js";
import { HF_ARCHITECTURES } from "../../src/hf/hfArchitectures.js";
import { demoModel, repoRoot } from "../helpers/sharedData.js";

const cli = join(repoRoot, "dist", "bin", "entgguf.js");
let dir: string;
let n = 0;

beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "entgguf-hfbad-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh exported stories260K folder, damaged by `damage`. */
async function folderWith(damage: (folder: string) => void, shards = 1): Promise<string> {
    const folder = join(dir, `m${n++}`);
    await exportHfFolder(demoModel, folder, { shards });
    damage(folder);
    return folder;
}

/** Rewrites a safetensors file's JSON header (the data stays as it is). */
function editHeader(file: string, edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>) => void): void {
    const buf = readFileSync(file);
    const len = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + len).toString("utf8"));
    edit(header);
    const json = Buffer.from(JSON.stringify(header));
    const lenBuf = Buffer.alloc(8);
    lenBuf.writeBigUInt64LE(BigInt(json.length));
    writeFileSync(file, Buffer.concat([lenBuf, json, buf.subarray(8 + len)]));
}

async function expectRefused(folder: string, code: HfInputErrorCode, file: string, says: RegExp): Promise<string> {
    const outDir = mkdtempSync(join(dir, "out-"));
    const err = await convertModel(folder, join(outDir, "out.gguf"), { bits: 3, progress: false }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(HfInputError);
    const e = err as HfInputError;
    expect(e.code, e.message).toBe(code);
    expect(e.file).toBe(join(folder, file));
    expect(e.message).toMatch(says);
    expect(readdirSync(outDir)).toEqual([]); // nothing written, not even a temp file
    return e.message;
}

describe("bad Hugging Face folders", () => {
    it("a missing config.json", async () => {
        const f = await folderWith((d) => rmSync(join(d, "config.json")));
        await expectRefused(f, "MISSING_FILE", "config.json", /config\.json: missing/);
    });

    it("no tokenizer", async () => {
        const f = await folderWith((d) => rmSync(join(d, "tokenizer.model")));
        await expectRefused(f, "MISSING_FILE", "", /has no tokenizer: neither tokenizer\.model \(SentencePiece\) nor tokenizer\.json/);
    });

    it("a damaged tokenizer.model", async () => {
        const f = await folderWith((d) => writeFileSync(join(d, "tokenizer.model"), Buffer.from([0x0a, 0xff, 0x01, 0x02])));
        await expectRefused(f, "BAD_TOKENIZER", "tokenizer.model", /not a SentencePiece model/);
    });

    it("an unsupported architecture: named, with the supported ones listed", async () => {
        const f = await folderWith((d) => {
            const c = JSON.parse(readFileSync(join(d, "config.json"), "utf8"));
            writeFileSync(join(d, "config.json"), JSON.stringify({ ...c, architectures: ["GPT2LMHeadModel"] }));
        });
        const m = await expectRefused(f, "UNSUPPORTED_ARCHITECTURE", "config.json", /architecture GPT2LMHeadModel is not supported/);
        for (const a of HF_ARCHITECTURES) expect(m).toContain(a.hf);
    });

    it("an unsupported dtype", async () => {
        const f = await folderWith((d) => editHeader(join(d, "model.safetensors"), (h) => (h["model.layers.2.mlp.up_proj.weight"]!.dtype = "I32")));
        await expectRefused(f, "UNSUPPORTED_DTYPE", "model.safetensors", /tensor "model\.layers\.2\.mlp\.up_proj\.weight" is I32; the converter reads F32, F16 and BF16/);
    });

    it("a missing shard", async () => {
        const f = await folderWith((d) => rmSync(join(d, "model-00002-of-00003.safetensors")), 3);
        await expectRefused(f, "MISSING_FILE", "model-00002-of-00003.safetensors", /missing: model\.safetensors\.index\.json lists this shard/);
    });

    it("a shard cut short: offsets past the end of the file", async () => {
        const f = await folderWith((d) => {
            const file = join(d, "model-00002-of-00002.safetensors");
            truncateSync(file, readFileSync(file).length - 100);
        }, 2);
        await expectRefused(f, "BAD_SAFETENSORS", "model-00002-of-00002.safetensors", /data_offsets \[\d+, \d+\] run past the end of the data/);
    });

    it("a header whose tensors overlap", async () => {
        const f = await folderWith((d) =>
            editHeader(join(d, "model.safetensors"), (h) => {
                h["model.layers.0.self_attn.o_proj.weight"]!.data_offsets = [...h["model.layers.0.self_attn.q_proj.weight"]!.data_offsets];
            })
        );
        await expectRefused(f, "BAD_SAFETENSORS", "model.safetensors", /overlap/);
    });

    it("a header whose byte counts contradict the shape", async () => {
        const f = await folderWith((d) => editHeader(join(d, "model.safetensors"), (h) => (h["model.norm.weight"]!.shape = [65])));
        await expectRefused(f, "BAD_SAFETENSORS", "model.safetensors", /tensor "model\.norm\.weight": data_offsets \[\d+, \d+\] hold 256 bytes, but F32 \[65\] takes 260/);
    });

    it("a header length beyond the file", async () => {
        const f = await folderWith((d) => {
            const file = join(d, "model.safetensors");
            const buf = readFileSync(file);
            buf.writeBigUInt64LE(BigInt(buf.length), 0);
            writeFileSync(file, buf);
        });
        await expectRefused(f, "BAD_SAFETENSORS", "model.safetensors", /the header claims \d+ bytes, but the file has \d+/);
    });

    it("a tensor llama.cpp would not load, and a missing one", async () => {
        const extra = await folderWith((d) =>
            editHeader(join(d, "model.safetensors"), (h) => {
                h["model.layers.0.mlp.extra_proj.weight"] = h["model.layers.0.mlp.up_proj.weight"]!;
                delete h["model.layers.0.mlp.up_proj.weight"];
            })
        );
        await expectRefused(extra, "BAD_TENSOR", "model.safetensors", /tensor "model\.layers\.0\.mlp\.extra_proj\.weight" has no GGUF name for LlamaForCausalLM/);
        const missing = await folderWith((d) => editHeader(join(d, "model.safetensors"), (h) => delete h["model.layers.4.mlp.down_proj.weight"]));
        await expectRefused(missing, "BAD_TENSOR", "", /no tensor for blk\.4\.ffn_down\.weight/);
    });

    it("the CLI prints one line naming the file and exits 1", async () => {
        const f = await folderWith((d) => rmSync(join(d, "config.json")));
        const r = spawnSync(process.execPath, [cli, "convert", f, "-o", join(dir, "cli.gguf")], { encoding: "utf8" });
        expect(r.status).toBe(1);
        expect(r.stderr.trim()).toBe(`entgguf: ${join(f, "config.json")}: missing: a Hugging Face model folder needs it`);
    });
});

describe("conventions of llama.cpp's converter", () => {
    it("q/k rows: HF's halves per head interleaved (LlamaModel.permute), and back", () => {
        // torch: w.reshape(heads=2, 2, 2, K).swapaxes(1, 2).reshape(8, K) turns rows [0..7] into [0, 2, 1, 3, 4, 6, 5, 7]
        const rows = Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]);
        expect([...permuteQkRows(rows, 2, 1, "toGguf")]).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
        // heads of 8 rows: [0..3 | 4..7] -> 0, 4, 1, 5, 2, 6, 3, 7
        expect([...permuteQkRows(rows, 1, 1, "toGguf")]).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
        const wide = Uint8Array.from({ length: 64 }, (_, i) => i);
        expect(permuteQkRows(permuteQkRows(wide, 2, 4, "toGguf"), 2, 4, "toHf")).toEqual(wide);
    });

    it("rope scaling: linear, yarn and llama3 (rope_freqs factors) as the converter writes them", () => {
        const base = { num_hidden_layers: 2, hidden_size: 4096, intermediate_size: 14336, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256, rope_theta: 500000 };
        const llama = HF_ARCHITECTURES[0]!;
        const md = (c: object) => hfModelMetadata({ ...base, ...c }, llama, "config.json", "m");
        const keys = (c: object) => Object.fromEntries(md(c).metadata.filter(([k]) => k.includes("rope")).map(([k, v]) => [k, (v as { value: unknown }).value]));
        expect(keys({ rope_scaling: { type: "linear", factor: 4 } })).toEqual({ "llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": 4, "llama.rope.freq_base": 500000, "llama.rope.dimension_count": 128 });
        expect(keys({ rope_scaling: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 32768 } })).toMatchObject({ "llama.rope.scaling.type": "yarn", "llama.rope.scaling.original_context_length": 32768 });
        // Llama 3.1 8B's settings: high frequencies kept (1), low ones scaled by the factor (8), a smooth ramp between
        const f = md({ rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }).ropeFreqs!;
        expect(f).toHaveLength(64);
        expect(f[0]).toBe(1);
        expect(f[63]).toBe(8);
        for (let i = 1; i < 64; i++) expect(f[i]!).toBeGreaterThanOrEqual(f[i - 1]!);
        expect(() => md({ rope_scaling: { rope_type: "longrope" } })).toThrow(/rope scaling "longrope" is not supported for LlamaForCausalLM/);
    });
});
