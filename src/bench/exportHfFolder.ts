// A Llama GGUF (F32/F16 weights, SentencePiece vocabulary) written out as a Hugging Face
// folder: config.json, safetensors shards + index with HF tensor names and the q/k rows
// in HF's order, tokenizer.model built from the GGUF vocabulary, tokenizer_config.json.
// For round-trip tests of the HF converter and for its memory benchmark.
import fs from "node:fs/promises";
import path from "node:path";

import type { GgufValue } from "../gguf/GgufFileInfo.js";
import { GgmlType } from "../gguf/ggmlTypes.js";
import { readGguf } from "../gguf/readGguf.js";
import { hfTensorName } from "../hf/ggufTensorName.js";
import { permuteQkRows } from "../hf/permuteQkRows.js";
import { writeSafetensors, type SafetensorsSpec } from "../hf/writeSafetensors.js";

export interface ExportHfOptions {
    /** number of safetensors shards (1: a single model.safetensors, no index) */
    shards?: number;
    /** tokenizer_config.json's chat_template */
    chatTemplate?: string;
}

/** Protobuf encoding, just what a SentencePiece ModelProto needs. */
function varint(n: number): number[] {
    const out: number[] = [];
    for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
    out.push(n);
    return out;
}
const field = (num: number, wire: number) => varint(num * 8 + wire);
const bytesField = (num: number, b: Uint8Array) => [...field(num, 2), ...varint(b.length), ...b];

function sentencePieceModel(tokens: readonly string[], scores: Float32Array, types: Int32Array): Uint8Array {
    const out: number[] = [];
    const f = new DataView(new ArrayBuffer(4));
    tokens.forEach((t, i) => {
        f.setFloat32(0, scores[i]!, true);
        const piece = [...bytesField(1, Buffer.from(t, "utf8")), ...field(2, 5), ...new Uint8Array(f.buffer), ...field(3, 0), ...varint(types[i]!)];
        out.push(...bytesField(1, Uint8Array.from(piece)));
    });
    // trainer_spec {model_type: BPE, vocab_size}, normalizer_spec {name: "identity", add_dummy_prefix: true}: what llama2.c's models carry
    out.push(...bytesField(2, Uint8Array.from([...field(3, 0), 2, ...field(4, 0), ...varint(tokens.length)])));
    out.push(...bytesField(3, Uint8Array.from([...bytesField(1, Buffer.from("identity")), ...field(3, 0), 1])));
    return Uint8Array.from(out);
}

/** Writes `folder` (created if needed) from the GGUF `gguf`; returns the files written. */
export async function exportHfFolder(gguf: string, folder: string, options: ExportHfOptions = {}): Promise<string[]> {
    const reader = await readGguf(gguf);
    try {
        const md = reader.info.metadata;
        const get = (k: string): GgufValue => {
            const v = md.get(k);
            if (!v) throw new Error(`${gguf}: no ${k}, which the export needs`);
            return v;
        };
        const num = (k: string) => (get(k) as { value: number }).value;
        if ((get("general.architecture") as { value: string }).value !== "llama") throw new Error(`${gguf}: only llama models are exported`);
        const tokens = (get("tokenizer.ggml.tokens") as { items: readonly string[] }).items;
        const nHead = num("llama.attention.head_count");
        const nHeadKv = md.has("llama.attention.head_count_kv") ? num("llama.attention.head_count_kv") : nHead;
        const bos = md.has("tokenizer.ggml.bos_token_id") ? num("tokenizer.ggml.bos_token_id") : 1;
        const eos = md.has("tokenizer.ggml.eos_token_id") ? num("tokenizer.ggml.eos_token_id") : 2;
        const config = {
            architectures: ["LlamaForCausalLM"],
            model_type: "llama",
            hidden_size: num("llama.embedding_length"),
            intermediate_size: num("llama.feed_forward_length"),
            num_attention_heads: nHead,
            num_key_value_heads: nHeadKv,
            num_hidden_layers: num("llama.block_count"),
            max_position_embeddings: num("llama.context_length"),
            rms_norm_eps: num("llama.attention.layer_norm_rms_epsilon"),
            rope_theta: md.has("llama.rope.freq_base") ? num("llama.rope.freq_base") : 10000,
            vocab_size: tokens.length,
            bos_token_id: bos,
            eos_token_id: eos,
            tie_word_embeddings: !reader.tensor("output.weight"),
            torch_dtype: "float32"
        };
        await fs.mkdir(folder, { recursive: true });
        const written: string[] = [];
        const put = async (name: string, data: string | Uint8Array) => {
            await fs.writeFile(path.join(folder, name), data);
            written.push(name);
        };
        await put("config.json", JSON.stringify(config, null, 2));
        await put("tokenizer.model", sentencePieceModel(tokens, (get("tokenizer.ggml.scores") as { items: Float32Array }).items, (get("tokenizer.ggml.token_type") as { items: Int32Array }).items));
        await put("tokenizer_config.json", JSON.stringify({ add_bos_token: true, add_eos_token: false, bos_token: tokens[bos], eos_token: tokens[eos], ...(options.chatTemplate ? { chat_template: options.chatTemplate } : {}) }, null, 2));

        const infos = reader.info.tensors.map((t) => {
            const name = hfTensorName(t.name);
            if (!name) throw new Error(`${gguf}: tensor ${t.name} has no Hugging Face name`);
            if (t.type !== GgmlType.F32 && t.type !== GgmlType.F16) throw new Error(`${gguf}: tensor ${t.name} is not F32 or F16`);
            const spec: SafetensorsSpec = { name, dtype: t.type === GgmlType.F32 ? "F32" : "F16", shape: [...t.dims].reverse() };
            return { t, spec };
        });
        // shards of about equal bytes, tensors in file order
        const shards = Math.max(1, options.shards ?? 1);
        const total = infos.reduce((a, x) => a + x.t.byteSize, 0);
        const groups: (typeof infos)[] = Array.from({ length: shards }, () => []);
        let acc = 0;
        for (const x of infos) {
            groups[Math.min(shards - 1, Math.floor((acc * shards) / total))]!.push(x);
            acc += x.t.byteSize;
        }
        const weightMap: Record<string, string> = {};
        for (const [i, g] of groups.entries()) {
            const file = shards === 1 ? "model.safetensors" : `model-${String(i + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
            for (const x of g) weightMap[x.spec.name] = file;
            await writeSafetensors(path.join(folder, file), g.map((x) => x.spec), async (j) => {
                const { t } = g[j]!;
                const bytes = await reader.readTensorData(t);
                const qk = /\.attn_(q|k)\.weight$/.exec(t.name);
                return qk ? permuteQkRows(bytes, qk[1] === "q" ? nHead : nHeadKv, t.byteSize / t.dims[1]!, "toHf") : bytes;
            });
            written.push(file);
        }
        if (shards > 1) await put("model.safetensors.index.json", JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
        return written;
    } finally {
        await reader.close();
    }
}
