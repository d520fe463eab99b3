// Hugging Face tensor names -> llama.cpp's GGUF names for the Llama family
// (gguf-py's tensor_mapping.py, the entries these architectures use).
import type { HfArchitecture } from "./hfArchitectures.js";

const GLOBAL: Readonly<Record<string, string>> = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight"
};

const BLOCK: Readonly<Record<string, string>> = {
    "input_layernorm.weight": "attn_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.bias": "attn_output.bias",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight"
};

const QK_NORM: Readonly<Record<string, string>> = {
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight"
};

/**
 * The GGUF name of a checkpoint tensor: a string, null for tensors llama.cpp's converter drops
 * (rotary inverse frequencies, recomputed at run time), undefined for names with no mapping.
 */
export function ggufTensorName(name: string, arch: HfArchitecture, nLayer: number): string | null | undefined {
    if (name.endsWith(".rotary_emb.inv_freq")) return null;
    if (name in GLOBAL) return GLOBAL[name];
    const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
    if (!m || Number(m[1]) >= nLayer || String(Number(m[1])) !== m[1]) return undefined;
    const mapped = BLOCK[m[2]!] ?? (arch.qkNorm ? QK_NORM[m[2]!] : undefined);
    return mapped && `blk.${m[1]}.${mapped}`;
}

/** The inverse: the Hugging Face name of a GGUF tensor name (for exporting a GGUF as a Hugging Face folder), or undefined. */
export function hfTensorName(gguf: string): string | undefined {
    const global = Object.entries(GLOBAL).find(([, g]) => g === gguf);
    if (global) return global[0];
    const m = /^blk\.(\d+)\.(.+)$/.exec(gguf);
    const hf = m && Object.entries({ ...BLOCK, ...QK_NORM }).find(([, g]) => g === m[2]);
    return hf ? `model.layers.${m[1]}.${hf[0]}` : undefined;
}
