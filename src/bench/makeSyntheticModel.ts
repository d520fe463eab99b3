// Seeded synthetic Llama-shaped GGUFs with heavy-tailed weights, for speed and
// scale tests (quality numbers on them say little). They load in llama.cpp:
// llama architecture keys, a byte-level SentencePiece vocabulary, every tensor
// of a Llama block.
import type { GgufTensorSpec, GgufValue } from "../gguf/GgufFileInfo.js";
import { GgmlType } from "../gguf/ggmlTypes.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import { writeGguf } from "../gguf/writeGguf.js";

export interface SyntheticModelShape {
    layers: number;
    /** embedding width */
    dim: number;
    /** feed-forward width */
    ffn: number;
    heads: number;
    kvHeads: number;
    /** at least 259 (3 specials + 256 byte tokens) */
    vocab: number;
    /** storage of the 2-D and expert weights */
    type: "f32" | "f16";
    seed: number;
    /** mixture of experts (like Mixtral): this many experts per layer, each `ffn` wide, in
     *  ffn_{gate,up,down}_exps [K, N, experts] with an F32 router ffn_gate_inp, instead of ffn_{gate,up,down} */
    experts?: number;
    /** experts each token routes to (with experts; default 2) */
    expertsUsed?: number;
}

/** About 1 B parameters (TinyLlama-like widths, every dimension a multiple of 256 for k-quants). */
export const SYNTHETIC_1B: SyntheticModelShape = { layers: 22, dim: 2048, ffn: 5632, heads: 32, kvHeads: 4, vocab: 2048, type: "f16", seed: 1 };

/** ~70 M parameters for `entgguf bench` runs (docs/BENCHMARKS.md): every row a multiple of 256, so k-quants apply unchanged. */
export const SYNTHETIC_BENCH: SyntheticModelShape = { layers: 6, dim: 1024, ffn: 2816, heads: 16, kvHeads: 4, vocab: 2048, type: "f16", seed: 1 };

/** A small Mixtral-like model (8 experts, 2 used) for MoE benchmarks: ~81 M parameters, 93% of them in experts (~25 M active per token). */
export const SYNTHETIC_MOE: SyntheticModelShape = {
    layers: 4,
    dim: 512,
    ffn: 1536,
    heads: 8,
    kvHeads: 4,
    vocab: 2048,
    type: "f16",
    seed: 1,
    experts: 8,
    expertsUsed: 2
};

/** xoshiro128**: fast, seeded, 32-bit. */
class Xoshiro128 {
    private s = new Uint32Array(4);
    constructor(seed: number) {
        let x = seed >>> 0 || 1;
        for (let i = 0; i < 4; i++) {
            x = (x + 0x9e3779b9) >>> 0;
            let z = x;
            z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
            z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
            this.s[i] = (z ^ (z >>> 16)) >>> 0 || 1;
        }
    }
    next(): number {
        const s = this.s;
        const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
        const t = s[1]! << 9;
        s[2]! ^= s[0]!;
        s[3]! ^= s[1]!;
        s[1]! ^= s[2]!;
        s[0]! ^= s[3]!;
        s[2]! ^= t;
        s[3] = rotl(s[3]!, 11);
        return r;
    }
    /** (0, 1) */
    uniform(): number {
        return (this.next() + 0.5) / 4294967296;
    }
}

function rotl(x: number, k: number): number {
    return (x << k) | (x >>> (32 - k));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 -> f16 bits, round to nearest even (finite values; above the f16 range: inf). */
export function toF16(v: number): number {
    f32[0] = v;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const a = x & 0x7fffffff;
    if (a >= 0x477ff000) return sign | 0x7c00;
    if (a < 0x38800000) {
        if (a < 0x33000000) return sign;
        const m = (a & 0x7fffff) | 0x800000;
        const shift = 126 - (a >>> 23);
        const half = 1 << (shift - 1);
        let r = m >>> shift;
        const rem = m & ((1 << shift) - 1);
        if (rem > half || (rem === half && r & 1)) r++;
        return sign | r;
    }
    let r = a - 0x38000000;
    const rem = r & 0x1fff;
    r >>>= 13;
    if (rem > 0x1000 || (rem === 0x1000 && r & 1)) r++;
    return sign | r;
}

/**
 * Heavy-tailed rows: Laplace values times a per-row scale drawn log-normally,
 * with one weight in ~100k ten times larger (outliers, as trained models have).
 */
function weightRows(rng: Xoshiro128, rows: number, cols: number, type: "f32" | "f16", std: number): Uint8Array {
    const n = rows * cols;
    const out = type === "f32" ? new Float32Array(n) : new Uint16Array(n);
    for (let r = 0; r < rows; r++) {
        const g = Math.sqrt(-2 * Math.log(rng.uniform())) * Math.cos(2 * Math.PI * rng.uniform());
        const rowScale = (std / Math.SQRT2) * Math.exp(0.25 * g);
        for (let k = 0, i = r * cols; k < cols; k++, i++) {
            const u = rng.uniform() - 0.5;
            let v = -rowScale * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
            if (rng.next() < 43000) v *= 10; // ~1e-5
            if (type === "f32") out[i] = v;
            else out[i] = toF16(v);
        }
    }
    return new Uint8Array(out.buffer);
}

function vocabulary(n: number): { tokens: string[]; scores: Float32Array; types: Int32Array } {
    const tokens = ["<unk>", "<s>", "</s>"];
    const types = [2, 3, 3]; // unknown, control, control
    for (let b = 0; b < 256; b++) {
        tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
        types.push(6); // byte
    }
    for (let i = tokens.length; i < n; i++) {
        tokens.push(`▁t${i}`);
        types.push(1); // normal
    }
    const scores = Float32Array.from(tokens, (_, i) => -i);
    return { tokens, scores, types: Int32Array.from(types) };
}

/** Writes the model to `file` (temp file + rename); returns its tensors' parameter count. */
export async function makeSyntheticModel(file: string, shape: SyntheticModelShape): Promise<number> {
    const { layers, dim, ffn, heads, kvHeads, vocab, type, seed, experts = 0, expertsUsed = 2 } = shape;
    if (vocab < 259) throw new RangeError("vocab must be at least 259 (3 specials + 256 byte tokens)");
    if (experts && !(Number.isInteger(experts) && experts >= 2 && expertsUsed >= 1 && expertsUsed <= experts))
        throw new RangeError("experts must be an integer >= 2 and expertsUsed in 1..experts");
    if (dim % heads || heads % kvHeads) throw new RangeError("dim must divide by heads, heads by kvHeads");
    const kvDim = (dim / heads) * kvHeads;
    const v = vocabulary(vocab);
    const s = (value: string): GgufValue => ({ type: GgufValueType.STRING, value });
    const u = (value: number): GgufValue => ({ type: GgufValueType.UINT32, value });
    const metadata = new Map<string, GgufValue>([
        ["general.architecture", s("llama")],
        ["general.name", s(`synthetic-llama-${layers}x${dim}${experts ? `-${experts}x${expertsUsed}moe` : ""}-seed${seed}`)],
        ["llama.context_length", u(2048)],
        ["llama.embedding_length", u(dim)],
        ["llama.feed_forward_length", u(ffn)],
        ["llama.block_count", u(layers)],
        ["llama.attention.head_count", u(heads)],
        ["llama.attention.head_count_kv", u(kvHeads)],
        ["llama.rope.dimension_count", u(dim / heads)],
        ["llama.attention.layer_norm_rms_epsilon", { type: GgufValueType.FLOAT32, value: 1e-5 }],
        ...(experts ? ([["llama.expert_count", u(experts)], ["llama.expert_used_count", u(expertsUsed)]] as const) : []),
        ["tokenizer.ggml.model", s("llama")],
        ["tokenizer.ggml.tokens", { type: GgufValueType.ARRAY, itemType: GgufValueType.STRING, items: v.tokens }],
        ["tokenizer.ggml.scores", { type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, items: v.scores }],
        ["tokenizer.ggml.token_type", { type: GgufValueType.ARRAY, itemType: GgufValueType.INT32, items: v.types }],
        ["tokenizer.ggml.unknown_token_id", u(0)],
        ["tokenizer.ggml.bos_token_id", u(1)],
        ["tokenizer.ggml.eos_token_id", u(2)]
    ]);
    const wType = type === "f32" ? GgmlType.F32 : GgmlType.F16;
    const tensors: (GgufTensorSpec & { make: (rng: Xoshiro128) => Uint8Array })[] = [];
    const matrix = (name: string, cols: number, rows: number) =>
        tensors.push({ name, type: wType, dims: [cols, rows], make: (rng) => weightRows(rng, rows, cols, type, 1 / Math.sqrt(cols)) });
    // the experts' matrices one after another: [cols, rows, experts]
    const stack = (name: string, cols: number, rows: number) =>
        tensors.push({ name, type: wType, dims: [cols, rows, experts], make: (rng) => weightRows(rng, rows * experts, cols, type, 1 / Math.sqrt(cols)) });
    const norm = (name: string) =>
        tensors.push({
            name,
            type: GgmlType.F32,
            dims: [dim],
            make: (rng) => new Uint8Array(Float32Array.from({ length: dim }, () => 1 + 0.1 * (rng.uniform() - 0.5)).buffer)
        });
    matrix("token_embd.weight", dim, vocab);
    for (let l = 0; l < layers; l++) {
        norm(`blk.${l}.attn_norm.weight`);
        matrix(`blk.${l}.attn_q.weight`, dim, dim);
        matrix(`blk.${l}.attn_k.weight`, dim, kvDim);
        matrix(`blk.${l}.attn_v.weight`, dim, kvDim);
        matrix(`blk.${l}.attn_output.weight`, dim, dim);
        norm(`blk.${l}.ffn_norm.weight`);
        if (experts) {
            // the router stays F32, as converters write it
            tensors.push({ name: `blk.${l}.ffn_gate_inp.weight`, type: GgmlType.F32, dims: [dim, experts], make: (rng) => weightRows(rng, experts, dim, "f32", 1 / Math.sqrt(dim)) });
            stack(`blk.${l}.ffn_gate_exps.weight`, dim, ffn);
            stack(`blk.${l}.ffn_up_exps.weight`, dim, ffn);
            stack(`blk.${l}.ffn_down_exps.weight`, ffn, dim);
        } else {
            matrix(`blk.${l}.ffn_gate.weight`, dim, ffn);
            matrix(`blk.${l}.ffn_up.weight`, dim, ffn);
            matrix(`blk.${l}.ffn_down.weight`, ffn, dim);
        }
    }
    norm("output_norm.weight");
    matrix("output.weight", dim, vocab);
    const rng = new Xoshiro128(seed);
    await writeGguf(file, { metadata, tensors: tensors.map(({ name, type, dims }) => ({ name, type, dims })) }, (_spec, i) => tensors[i]!.make(rng));
    return tensors.reduce((a, t) => a + t.dims!.reduce((x, y) => x * y, 1), 0);
}
