// Special tokens, "add BOS/EOS" flags and the chat template, read as gguf-py's
// SpecialVocab reads them (vocab.py, v0.5.0): tokenizer.json's added tokens and
// post-processor, then tokenizer_config.json, then config.json's *_token_id.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import type { GgufValue } from "../gguf/GgufFileInfo.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import { HfInputError } from "./HfInputError.js";
import type { HfConfig } from "./readHfConfig.js";

/** The special token types SpecialVocab looks for, and the GGUF key of each (cls has none in gguf-py's writer: skipped). */
const ID_KEYS: Readonly<Record<string, string | undefined>> = {
    bos: "tokenizer.ggml.bos_token_id",
    eos: "tokenizer.ggml.eos_token_id",
    unk: "tokenizer.ggml.unknown_token_id",
    sep: "tokenizer.ggml.seperator_token_id",
    pad: "tokenizer.ggml.padding_token_id",
    cls: undefined,
    mask: "tokenizer.ggml.mask_token_id",
    eot: "tokenizer.ggml.eot_token_id"
};
const ADD_KEYS: Readonly<Record<string, string>> = {
    bos: "tokenizer.ggml.add_bos_token",
    eos: "tokenizer.ggml.add_eos_token",
    sep: "tokenizer.ggml.add_sep_token"
};

type AddedToken = { id?: unknown; content?: unknown };
type TemplateItem = { SpecialToken?: { id?: unknown } };

export type SpecialTokenInputs = {
    folder: string;
    config: HfConfig;
    /** tokenizer.json, parsed, when the folder has one */
    tokenizerJson?: Record<string, unknown>;
    /** tokenizer_config.json, parsed, when the folder has one */
    tokenizerConfig?: Record<string, unknown>;
    /** ids at or above are ignored (SentencePiece vocabularies pass their size) */
    nVocab?: number;
};

export function hfSpecialTokens(inputs: SpecialTokenInputs): [string, GgufValue][] {
    const { folder, config, tokenizerJson, nVocab } = inputs;
    const tc = inputs.tokenizerConfig ? { ...inputs.tokenizerConfig } : undefined; // SpecialVocab edits its copy
    const types = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"];
    const ids = new Map<string, number>();
    const add = new Map<string, boolean>();
    const setId = (typ: string, id: unknown) => {
        if (!Number.isSafeInteger(id)) return;
        if ((id as number) < 0) throw new HfInputError("BAD_TOKENIZER", folder, `special token ${typ} has the negative id ${String(id)}`);
        if ((nVocab === undefined || (id as number) < nVocab) && !ids.has(typ)) ids.set(typ, id as number);
    };
    const content = (v: unknown): string | undefined =>
        typeof v === "string" ? v : typeof v === "object" && v && typeof (v as { content?: unknown }).content === "string" ? (v as { content: string }).content : undefined;

    const addedTokens = (Array.isArray(tokenizerJson?.added_tokens) ? tokenizerJson.added_tokens : []) as AddedToken[];
    if (tokenizerJson) {
        const post = tokenizerJson.post_processor as { type?: unknown; processors?: unknown; single?: unknown } | null | undefined;
        const processors = (post && (Array.isArray(post.processors) ? post.processors : [post])) as { type?: unknown; single?: unknown }[] | undefined;
        for (const p of processors ?? []) {
            if (p.type === "RobertaProcessing") {
                for (const t of ["bos", "eos", "sep"]) add.set(t, true);
            } else if (p.type === "TemplateProcessing" && Array.isArray(p.single) && p.single.length > 1) {
                // the crude reading SpecialVocab does: a leading special token is BOS, a trailing one EOS
                const single = p.single as TemplateItem[];
                const first = single[0]?.SpecialToken?.id;
                if (typeof first === "string" && first) {
                    if (tc && first !== content(tc.bos_token) && first !== content(tc.cls_token)) {
                        if (!content(tc.bos_token)) tc.bos_token = first;
                        if (!content(tc.cls_token)) tc.cls_token = first;
                    }
                    add.set("bos", !tc || first === content(tc.bos_token) || first === content(tc.cls_token));
                }
                const last = single[single.length - 1]?.SpecialToken?.id;
                if (typeof last === "string" && last) {
                    if (tc && last !== content(tc.eos_token)) {
                        // the old EOS becomes end-of-turn, the trailing token the EOS
                        types.push("eot");
                        tc.eot_token = tc.eos_token;
                        tc.eos_token = last;
                    }
                    add.set("eos", true);
                }
            }
        }
    }

    const out: [string, GgufValue][] = [];
    let chatTemplate: unknown;
    if (tc) {
        const jinja = path.join(folder, "chat_template.jinja");
        const json = path.join(folder, "chat_template.json");
        let alt: unknown;
        if (existsSync(jinja)) alt = readFileSync(jinja, "utf8");
        else if (existsSync(json)) {
            try {
                alt = (JSON.parse(readFileSync(json, "utf8")) as { chat_template?: unknown }).chat_template;
            } catch (e) {
                throw new HfInputError("BAD_JSON", json, `not valid JSON (${(e as Error).message})`);
            }
        }
        chatTemplate = tc.chat_template ?? alt;
        for (const typ of types) {
            const flag = tc[`add_${typ}_token`];
            if (typeof flag === "boolean") add.set(typ, flag);
            const c = content(tc[`${typ}_token`]);
            if (c !== undefined) setId(typ, addedTokens.find((t) => t.content === c)?.id);
        }
    }
    const cfg = config as Record<string, unknown>;
    for (const typ of types) setId(typ, cfg[`${typ}_token_id`]);

    for (const [typ, id] of ids) if (ID_KEYS[typ]) out.push([ID_KEYS[typ], { type: GgufValueType.UINT32, value: id }]);
    for (const [typ, v] of add) if (ADD_KEYS[typ]) out.push([ADD_KEYS[typ], { type: GgufValueType.BOOL, value: v }]);
    out.push(...chatTemplateEntries(chatTemplate));
    return out;
}

/** tokenizer.chat_template, and for a list of named templates tokenizer.chat_template.<name> + tokenizer.chat_templates. */
function chatTemplateEntries(t: unknown): [string, GgufValue][] {
    if (typeof t === "string") return [["tokenizer.chat_template", { type: GgufValueType.STRING, value: t }]];
    if (!Array.isArray(t)) return [];
    const out: [string, GgufValue][] = [];
    const names: string[] = [];
    let fallback: string | undefined;
    for (const c of t as { name?: unknown; template?: unknown }[]) {
        const name = String(c?.name ?? "").replace(/[^A-Za-z0-9]/g, "_");
        if (!name || typeof c.template !== "string") continue;
        if (name === "default") fallback = c.template;
        else if (!names.includes(name)) {
            names.push(name);
            out.push([`tokenizer.chat_template.${name}`, { type: GgufValueType.STRING, value: c.template }]);
        }
    }
    if (names.length) out.push(["tokenizer.chat_templates", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, items: names }]);
    if (fallback !== undefined) out.push(["tokenizer.chat_template", { type: GgufValueType.STRING, value: fallback }]);
    return out;
}
