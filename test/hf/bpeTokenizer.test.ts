// Byte-level BPE tokenizer.json folders (Llama 3's and Qwen's pre-tokenizers), written by
// this test with merges learned from a text: converted, loaded whole in the patched
// llama.cpp (llama, qwen2 with q/k/v biases, qwen3 with q/k norms), and tokenizing as the
// fixture's own rules say (a plain BPE implementation below).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { Llama, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { exportHfFolder } from "../../src/bench/exportHfFolder.js";
import type { GgufMetadata } from "../../src/gguf/GgufFileInfo.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { writeSafetensors, type SafetensorsSpec } from "../../src/hf/writeSafetensors.js";
import { getEntLlama } from "../../src/runtime/getEntLlama.js";
import { demoModel, repoRoot } from "../helpers/sharedData.js";


/** A scalar metadata value (undefined for arrays and absent keys). */
const scalar = (md: GgufMetadata, key: string) => (md.get(key) as { value?: unknown } | undefined)?.value;
const cli = join(repoRoot, "dist", "bin", "entgguf.js");
const TRAIN = readFileSync(join(repoRoot, "test", "fixtures", "short-stories.txt"), "utf8");
const TEXT = "Hello world! I'VE got 12345 apples, don't   you?\n\n  Tom's café costs 3.50€ 🦙 -- ok\tdone.\r\n";
const VOCAB = 512; // stories260K's embedding rows
const SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>"];

// HF's regexes as tokenizer.json stores them, and the same in JavaScript ((?i:...) spelled out, as llama.cpp does)
const PRE = {
    "llama-bpe": {
        hf: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        js: /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu
    },
    qwen2: {
        hf: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        js: /(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu
    }
} as const;
type PreName = keyof typeof PRE;

/** GPT-2's byte -> printable character map: byte b is the character BYTE_CHARS[b]. */
const BYTE_CHARS: string[] = (() => {
    const bs: number[] = [];
    for (let b = 0; b < 256; b++) if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) bs.push(b);
    const map: string[] = [];
    for (const b of bs) map[b] = String.fromCodePoint(b);
    let n = 0;
    for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
    return map;
})();
const toByteChars = (s: string) => [...Buffer.from(s, "utf8")].map((b) => BYTE_CHARS[b]!);

/** A byte-level BPE learned on TRAIN: 256 byte tokens, merges up to VOCAB - 2, then the two specials. */
function trainBpe(pre: PreName) {
    const words = new Map<string, number>();
    for (const w of TRAIN.match(PRE[pre].js) ?? []) {
        const k = toByteChars(w).join("\u0000");
        words.set(k, (words.get(k) ?? 0) + 1);
    }
    let seqs = [...words].map(([k, n]) => ({ syms: k.split("\u0000"), n }));
    const merges: [string, string][] = [];
    while (256 + merges.length < VOCAB - SPECIALS.length) {
        const pairs = new Map<string, number>();
        for (const { syms, n } of seqs) for (let i = 0; i + 1 < syms.length; i++) pairs.set(syms[i] + "\u0000" + syms[i + 1], (pairs.get(syms[i] + "\u0000" + syms[i + 1]) ?? 0) + n);
        const [best] = [...pairs].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))[0]!;
        const [a, b] = best.split("\u0000") as [string, string];
        merges.push([a, b]);
        seqs = seqs.map(({ syms, n }) => ({ syms: mergeAll(syms, a, b), n }));
    }
    const vocab: Record<string, number> = {};
    BYTE_CHARS.forEach((c, i) => (vocab[c] = i));
    merges.forEach(([a, b], i) => (vocab[a + b] = 256 + i));
    return { vocab, merges };
}

function mergeAll(syms: string[], a: string, b: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < syms.length; i++) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) out.push(a + b), i++;
        else out.push(syms[i]!);
    }
    return out;
}

/** The fixture's rules: pre-tokenize, a whole piece in the vocabulary is one token (ignore_merges), else merges by rank. */
function referenceTokenize(text: string, pre: PreName, vocab: Record<string, number>, merges: [string, string][]): number[] {
    const rank = new Map(merges.map(([a, b], i) => [a + "\u0000" + b, i]));
    const ids: number[] = [];
    for (const piece of text.match(PRE[pre].js) ?? []) {
        let syms = toByteChars(piece);
        if (syms.join("") in vocab) {
            ids.push(vocab[syms.join("")]!);
            continue;
        }
        for (;;) {
            let best: number | undefined;
            for (let i = 0; i + 1 < syms.length; i++) {
                const r = rank.get(syms[i] + "\u0000" + syms[i + 1]);
                if (r !== undefined && (best === undefined || r < best)) best = r;
            }
            if (best === undefined) break;
            syms = mergeAll(syms, merges[best]![0], merges[best]![1]);
        }
        ids.push(...syms.map((s) => vocab[s]!));
    }
    return ids;
}

const variants = [
    { arch: "LlamaForCausalLM", pre: "llama-bpe" as const, extra: "none" },
    { arch: "Qwen2ForCausalLM", pre: "qwen2" as const, extra: "qkv-bias" },
    { arch: "Qwen3ForCausalLM", pre: "qwen2" as const, extra: "qk-norm" }
];

let dir: string;
let llama: Llama;
beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "entgguf-bpe-"));
    llama = await getEntLlama();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("byte-level BPE tokenizer.json", () => {
    for (const v of variants) {
        it(`${v.arch} with the ${v.pre} pre-tokenizer: converted, loaded, tokenizing as its rules say`, async () => {
            const folder = join(dir, v.arch);
            await exportHfFolder(demoModel, folder);
            rmSync(join(folder, "tokenizer.model"));
            const config = JSON.parse(readFileSync(join(folder, "config.json"), "utf8")) as Record<string, unknown>;
            writeFileSync(join(folder, "config.json"), JSON.stringify({ ...config, architectures: [v.arch], bos_token_id: 510, eos_token_id: 511 }));
            const { vocab, merges } = trainBpe(v.pre);
            const tokenizer = {
                version: "1.0",
                added_tokens: SPECIALS.map((content, i) => ({ id: VOCAB - 2 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
                normalizer: null,
                pre_tokenizer: {
                    type: "Sequence",
                    pretokenizers: [
                        { type: "Split", pattern: { Regex: PRE[v.pre].hf }, behavior: "Isolated", invert: false },
                        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }
                    ]
                },
                post_processor: { type: "TemplateProcessing", single: [{ SpecialToken: { id: SPECIALS[0], type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }], pair: [], special_tokens: {} },
                decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
                model: { type: "BPE", dropout: null, unk_token: null, fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges }
            };
            writeFileSync(join(folder, "tokenizer.json"), JSON.stringify(tokenizer));
            writeFileSync(join(folder, "tokenizer_config.json"), JSON.stringify({ bos_token: SPECIALS[0], eos_token: SPECIALS[1], chat_template: "{{ messages }}" }));
            if (v.extra !== "none") {
                // the architecture's extra tensors in a second file (zero biases; unit q/k norms), the first renamed and indexed
                const specs: SafetensorsSpec[] = [];
                for (let i = 0; i < 5; i++) {
                    if (v.extra === "qkv-bias") specs.push(...[["q", 64], ["k", 32], ["v", 32]].map(([p, n]) => ({ name: `model.layers.${i}.self_attn.${p}_proj.bias`, dtype: "BF16" as const, shape: [n as number] })));
                    else specs.push(...["q", "k"].map((p) => ({ name: `model.layers.${i}.self_attn.${p}_norm.weight`, dtype: "F16" as const, shape: [8] })));
                }
                await writeSafetensors(join(folder, "extra.safetensors"), specs, (i) => new Uint8Array(new Uint16Array(specs[i]!.shape[0]!).fill(v.extra === "qk-norm" ? 0x3c00 : 0).buffer));
                const header = readFileSync(join(folder, "model.safetensors"));
                writeFileSync(join(folder, "model-00001-of-00002.safetensors"), header);
                rmSync(join(folder, "model.safetensors"));
                const len = Number(header.readBigUInt64LE(0));
                const main = Object.keys(JSON.parse(header.subarray(8, 8 + len).toString("utf8"))).filter((k) => k !== "__metadata__");
                expect(main).toHaveLength(48); // every stories260K tensor
                const weightMap = Object.fromEntries([...main.map((k) => [k, "model-00001-of-00002.safetensors"]), ...specs.map((s) => [s.name, "extra.safetensors"])]);
                writeFileSync(join(folder, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
            }
            const out = join(dir, `${v.arch}.gguf`);
            const r = spawnSync(process.execPath, [cli, "convert", folder, "-o", out, "--uncoded"], { encoding: "utf8" });
            expect(r.status, r.stderr).toBe(0);

            const g = await readGguf(out);
            const md = g.info.metadata;
            await g.close();
            expect(scalar(md, "general.architecture")).toBe(v.arch === "LlamaForCausalLM" ? "llama" : v.arch.slice(0, 5).toLowerCase());
            expect(scalar(md, "tokenizer.ggml.model")).toBe("gpt2");
            expect(scalar(md, "tokenizer.ggml.pre")).toBe(v.pre);
            expect((md.get("tokenizer.ggml.merges") as { items: readonly string[] }).items).toHaveLength(merges.length);
            expect(scalar(md, "tokenizer.ggml.bos_token_id")).toBe(510);
            expect(scalar(md, "tokenizer.ggml.eos_token_id")).toBe(511);
            expect(scalar(md, "tokenizer.ggml.add_bos_token")).toBe(true); // from the TemplateProcessing post-processor
            expect([...(md.get("tokenizer.ggml.token_type") as { items: Int32Array }).items.slice(508)]).toEqual([1, 1, 3, 3]);
            expect(g.info.tensors.filter((t) => /attn_(q|k|v)\.bias|attn_(q|k)_norm/.test(t.name)).length).toBe(v.extra === "none" ? 0 : v.extra === "qkv-bias" ? 15 : 10);

            const model = await llama.loadModel({ modelPath: out, gpuLayers: 0 });
            try {
                const expected = referenceTokenize(TEXT, v.pre, vocab, merges);
                expect(expected.length).toBeGreaterThan(20);
                expect(model.tokenize(TEXT)).toEqual(expected);
                expect(model.detokenize(expected as Token[])).toBe(TEXT);
                // the whole model loaded and runs (its weights mean nothing with this vocabulary)
                const context = await model.createContext({ contextSize: 64 });
                let n = 0;
                for await (const t of context.getSequence().evaluate([510 as Token, ...(expected as Token[]).slice(0, 8)], { temperature: 0 })) {
                    expect(t).toBeLessThan(VOCAB);
                    if (++n >= 4) break;
                }
                await context.dispose();
            } finally {
                await model.dispose();
            }
        });
    }
});
