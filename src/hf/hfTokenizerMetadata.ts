// The tokenizer as GGUF metadata (tokenizer.ggml.*), as llama.cpp's converter writes
// it: SentencePiece from tokenizer.model (_create_vocab_sentencepiece, model "llama"),
// else byte-level BPE from tokenizer.json (get_vocab_base, model "gpt2" with merges
// and a pre-tokenizer name); then special tokens and the chat template.
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";

import type { GgufValue } from "../gguf/GgufFileInfo.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import { bpePreTokenizer, KNOWN_BPE_PRE_TOKENIZERS } from "./bpePreTokenizer.js";
import type { HfArchitecture } from "./hfArchitectures.js";
import { HfInputError } from "./HfInputError.js";
import { hfSpecialTokens } from "./hfSpecialTokens.js";
import type { HfConfig } from "./readHfConfig.js";
import { readJsonFile } from "./readJsonFile.js";
import { readSentencePieceModel, SentencePieceType } from "./readSentencePieceModel.js";

// GGUF token types (gguf-py TokenType) share SentencePiece's numbers
const NORMAL = SentencePieceType.NORMAL;
const CONTROL = SentencePieceType.CONTROL;
const USER_DEFINED = SentencePieceType.USER_DEFINED;
const UNUSED = SentencePieceType.UNUSED;

const str = (value: string): GgufValue => ({ type: GgufValueType.STRING, value });
const strings = (items: string[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, items });
const int32s = (items: number[]): GgufValue => ({ type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, items: Int32Array.from(items) });

/** Added tokens that llama.cpp's converter marks CONTROL even when not flagged special (TextModel.does_token_look_special). */
function looksSpecial(t: string): boolean {
    return ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) || (t.startsWith("<|") && t.endsWith("|>")) ||
        (t.startsWith("<｜") && t.endsWith("｜>")) || (t.startsWith("<unused") && t.endsWith(">"));
}

const asObject = (v: unknown): Record<string, unknown> | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** tokenizer.ggml.* and tokenizer.chat_template* entries for the folder's tokenizer. */
export async function hfTokenizerMetadata(folder: string, config: HfConfig, arch: HfArchitecture, vocabSize: number | undefined): Promise<[string, GgufValue][]> {
    const spmFile = path.join(folder, "tokenizer.model");
    const jsonFile = path.join(folder, "tokenizer.json");
    const tcFile = path.join(folder, "tokenizer_config.json");
    const tcRaw = await readJsonFile(tcFile, true);
    const tokenizerConfig = tcRaw === undefined ? undefined : asObject(tcRaw);
    if (tcRaw !== undefined && !tokenizerConfig) throw new HfInputError("BAD_JSON", tcFile, "is not a JSON object");
    const jsonRaw = existsSync(jsonFile) ? await readJsonFile(jsonFile) : undefined;
    const tokenizerJson = jsonRaw === undefined ? undefined : asObject(jsonRaw);
    if (jsonRaw !== undefined && !tokenizerJson) throw new HfInputError("BAD_JSON", jsonFile, "is not a JSON object");

    const out: [string, GgufValue][] = [];
    // LlamaModel.set_vocab only
    if (arch.gguf === "llama" && typeof tokenizerConfig?.add_prefix_space === "boolean")
        out.push(["tokenizer.ggml.add_space_prefix", { type: GgufValueType.BOOL, value: tokenizerConfig.add_prefix_space }]);

    if (existsSync(spmFile)) {
        const pieces = readSentencePieceModel(await fs.readFile(spmFile), spmFile);
        const n = vocabSize ?? pieces.length;
        const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
        const scores = new Float32Array(n).fill(-10000);
        const types = new Array<number>(n).fill(UNUSED);
        for (const [i, p] of pieces.entries()) {
            if (i >= n) break;
            tokens[i] = p.piece;
            scores[i] = p.score;
            // SentencePieceProcessor's IsUnknown/IsControl/IsUnused/IsByte; anything else (user-defined too) is NORMAL
            types[i] = [SentencePieceType.UNKNOWN, CONTROL, UNUSED, SentencePieceType.BYTE].includes(p.type) ? p.type : NORMAL;
        }
        const addedFile = path.join(folder, "added_tokens.json");
        const added = asObject(await readJsonFile(addedFile, true)) ?? {};
        for (const [token, id] of Object.entries(added)) {
            if (!Number.isSafeInteger(id) || (id as number) < 0) throw new HfInputError("BAD_TOKENIZER", addedFile, `token ${JSON.stringify(token)} has id ${JSON.stringify(id)}`);
            if ((id as number) >= n) continue;
            [tokens[id as number], scores[id as number], types[id as number]] = [token, -1000, USER_DEFINED];
        }
        for (const [key, data] of Object.entries(asObject(tokenizerConfig?.added_tokens_decoder) ?? {})) {
            const id = Number(key);
            const d = asObject(data);
            if (!Number.isSafeInteger(id) || id < 0 || typeof d?.content !== "string")
                throw new HfInputError("BAD_TOKENIZER", tcFile, `added_tokens_decoder entry ${JSON.stringify(key)} is not {id: {content, special}}`);
            if (id >= n) continue;
            const special = d.special === true || looksSpecial(d.content);
            tokens[id] = special ? d.content : d.content.replaceAll("\u2581", " "); // user-defined spaces pre-normalised
            types[id] = special ? CONTROL : USER_DEFINED;
            scores[id] = -1000;
        }
        out.push(
            ["tokenizer.ggml.model", str("llama")],
            ["tokenizer.ggml.pre", str("default")],
            ["tokenizer.ggml.tokens", strings(tokens)],
            ["tokenizer.ggml.scores", { type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, items: scores }],
            ["tokenizer.ggml.token_type", int32s(types)]
        );
        out.push(...hfSpecialTokens({ folder, config, tokenizerJson, tokenizerConfig, nVocab: n }));
        return out;
    }

    if (!tokenizerJson) throw new HfInputError("MISSING_FILE", folder, "has no tokenizer: neither tokenizer.model (SentencePiece) nor tokenizer.json");
    const model = asObject(tokenizerJson.model);
    if (model?.type !== "BPE")
        throw new HfInputError("BAD_TOKENIZER", jsonFile, `holds a ${String(model?.type ?? "typeless")} model; only byte-level BPE is read from tokenizer.json (SentencePiece from tokenizer.model)`);
    if (model.byte_fallback === true)
        throw new HfInputError("BAD_TOKENIZER", jsonFile, "holds a SentencePiece-style BPE (byte_fallback); convert with the folder's tokenizer.model, which is absent");
    const pre = bpePreTokenizer(tokenizerJson.pre_tokenizer);
    if (!pre) throw new HfInputError("BAD_TOKENIZER", jsonFile, `its pre_tokenizer matches none of llama.cpp's that the converter recognises: ${KNOWN_BPE_PRE_TOKENIZERS}`);

    // the Hugging Face tokenizer's vocabulary is the model's plus the added tokens
    const byId = new Map<number, string>();
    const vocab = asObject(model.vocab);
    if (!vocab) throw new HfInputError("BAD_TOKENIZER", jsonFile, "model.vocab is not an object of token -> id");
    for (const [token, id] of Object.entries(vocab)) {
        if (!Number.isSafeInteger(id) || (id as number) < 0) throw new HfInputError("BAD_TOKENIZER", jsonFile, `token ${JSON.stringify(token)} has id ${JSON.stringify(id)}`);
        byId.set(id as number, token);
    }
    const added = new Map<number, { content: string; special: boolean }>();
    for (const t of (Array.isArray(tokenizerJson.added_tokens) ? tokenizerJson.added_tokens : []) as Record<string, unknown>[]) {
        if (!Number.isSafeInteger(t?.id) || typeof t.content !== "string") throw new HfInputError("BAD_TOKENIZER", jsonFile, `added token ${JSON.stringify(t)} has no id or content`);
        added.set(t.id as number, { content: t.content, special: t.special === true });
        byId.set(t.id as number, t.content);
    }
    const n = vocabSize ?? new Set(byId.values()).size;
    let maxId = 0;
    for (const id of byId.keys()) maxId = Math.max(maxId, id);
    if (maxId >= n) throw new HfInputError("BAD_TOKENIZER", jsonFile, `token id ${maxId} is outside the vocabulary of ${n} (config.json's vocab_size)`);
    const tokens: string[] = [];
    const types: number[] = [];
    for (let i = 0; i < n; i++) {
        const token = byId.get(i);
        const a = added.get(i);
        if (token === undefined) {
            tokens.push(`[PAD${i}]`);
            types.push(UNUSED);
        } else if (a) {
            const special = a.special || looksSpecial(token);
            tokens.push(special ? token : token.replaceAll("\u2581", " "));
            types.push(special ? CONTROL : USER_DEFINED);
        } else {
            tokens.push(token);
            types.push(NORMAL);
        }
    }
    const merges = Array.isArray(model.merges) ? (model.merges as unknown[]) : [];
    if (merges.length === 0) throw new HfInputError("BAD_TOKENIZER", jsonFile, "model.merges is empty: a BPE tokenizer needs its merges");
    const mergeStrings = merges.map((m, i) => {
        if (typeof m === "string") return m;
        // [a, b] pairs (transformers >= 4.45) may hold spaces: written as U+0120 like the byte-level alphabet does
        if (Array.isArray(m) && m.length === 2 && m.every((p) => typeof p === "string")) return m.map((p: string) => p.replaceAll(" ", "\u0120")).join(" ");
        throw new HfInputError("BAD_TOKENIZER", jsonFile, `merge #${i} is ${JSON.stringify(m)}, neither "a b" nor ["a", "b"]`);
    });
    out.push(
        ["tokenizer.ggml.model", str("gpt2")],
        ["tokenizer.ggml.pre", str(pre)],
        ["tokenizer.ggml.tokens", strings(tokens)],
        ["tokenizer.ggml.token_type", int32s(types)],
        ["tokenizer.ggml.merges", strings(mergeStrings)]
    );
    out.push(...hfSpecialTokens({ folder, config, tokenizerJson, tokenizerConfig }));
    return out;
}
