// The model's hyper-parameters as GGUF metadata, key for key as llama.cpp's
// convert_hf_to_gguf.py writes them for these architectures (TextModel and
// LlamaModel.set_gguf_parameters, v0.5.0), plus the llama3 RoPE factors tensor.
import type { GgufValue } from "../gguf/GgufFileInfo.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import type { HfArchitecture } from "./hfArchitectures.js";
import { HfInputError } from "./HfInputError.js";
import type { HfConfig } from "./readHfConfig.js";

/** The hyper-parameters the tensor checks need. */
export type HfShape = {
    readonly nLayer: number;
    readonly nEmbd: number;
    readonly nFf: number;
    readonly nHead: number;
    readonly nHeadKv: number;
    readonly headDim: number;
    /** config.json's vocab_size, when given */
    readonly vocabSize?: number;
};

export type HfModelMetadata = {
    readonly metadata: [string, GgufValue][];
    readonly shape: HfShape;
    /** llama3 RoPE scaling: per-frequency factors, written as rope_freqs.weight (LlamaModel.generate_extra_tensors) */
    readonly ropeFreqs?: Float32Array;
};

const u32 = (value: number): GgufValue => ({ type: GgufValueType.UINT32, value });
const f32 = (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value });
const str = (value: string): GgufValue => ({ type: GgufValueType.STRING, value });

/** Metadata and shape of the model that config.json describes. */
export function hfModelMetadata(config: HfConfig, arch: HfArchitecture, file: string, name: string): HfModelMetadata {
    const bad = (problem: string) => new HfInputError("BAD_JSON", file, problem);
    const int = (key: string, required: boolean): number | undefined => {
        const v = config[key];
        if (v === undefined || v === null) {
            if (required) throw bad(`has no "${key}", which ${arch.hf} needs`);
            return undefined;
        }
        if (!Number.isSafeInteger(v) || (v as number) <= 0 || (v as number) >= 2 ** 32) throw bad(`"${key}" must be a positive integer, not ${JSON.stringify(v)}`);
        return v as number;
    };
    const num = (obj: Record<string, unknown>, key: string, where: string): number | undefined => {
        const v = obj[key];
        if (v === undefined || v === null) return undefined;
        if (typeof v !== "number" || !Number.isFinite(v)) throw bad(`"${where}${key}" must be a number, not ${JSON.stringify(v)}`);
        return v;
    };

    const nLayer = int("num_hidden_layers", true)!;
    const nEmbd = int("hidden_size", true)!;
    const nFf = int("intermediate_size", true)!;
    const nHead = int("num_attention_heads", true)!;
    const nHeadKv = int("num_key_value_heads", false);
    const headDimKey = int("head_dim", false);
    const vocabSize = int("vocab_size", arch.gguf === "llama");
    const nCtx = int("max_position_embeddings", false);
    const headDim = headDimKey ?? nEmbd / nHead;
    if (!Number.isInteger(headDim)) throw bad(`hidden_size ${nEmbd} is not a multiple of num_attention_heads ${nHead} (and no head_dim is given)`);
    if (nHeadKv !== undefined && nHead % nHeadKv !== 0) throw bad(`num_attention_heads ${nHead} is not a multiple of num_key_value_heads ${nHeadKv}`);

    const a = arch.gguf;
    const metadata: [string, GgufValue][] = [
        ["general.architecture", str(a)],
        ["general.name", str(name)],
        [`${a}.block_count`, u32(nLayer)]
    ];
    if (nCtx !== undefined) metadata.push([`${a}.context_length`, u32(nCtx)]);
    metadata.push([`${a}.embedding_length`, u32(nEmbd)], [`${a}.feed_forward_length`, u32(nFf)], [`${a}.attention.head_count`, u32(nHead)]);
    if (nHeadKv !== undefined) metadata.push([`${a}.attention.head_count_kv`, u32(nHeadKv)]);

    // rope: transformers keeps the settings in rope_scaling (rope_parameters from v5), the base in rope_theta or there
    const ropeRaw = config.rope_parameters ?? config.rope_scaling ?? {};
    if (typeof ropeRaw !== "object" || ropeRaw === null) throw bad(`"rope_scaling" must be an object, not ${JSON.stringify(ropeRaw)}`);
    const rope = ropeRaw as Record<string, unknown>;
    const ropeTheta = num(config as Record<string, unknown>, "rope_theta", "") ?? num(rope, "rope_theta", "rope_scaling.");
    const ropeType = rope.rope_type ?? rope.type;
    let ropeFreqs: Float32Array | undefined;
    if (ropeType !== undefined) {
        if (typeof ropeType !== "string") throw bad(`"rope_scaling.rope_type" must be a string, not ${JSON.stringify(ropeType)}`);
        const factor = num(rope, "factor", "rope_scaling.");
        if (ropeType === "linear" && factor !== undefined) {
            metadata.push([`${a}.rope.scaling.type`, str("linear")], [`${a}.rope.scaling.factor`, f32(factor)]);
        } else if (ropeType === "yarn" && factor !== undefined) {
            const orig = num(rope, "original_max_position_embeddings", "rope_scaling.");
            if (orig === undefined) throw bad(`yarn rope scaling needs "rope_scaling.original_max_position_embeddings"`);
            metadata.push([`${a}.rope.scaling.type`, str("yarn")], [`${a}.rope.scaling.factor`, f32(factor)], [`${a}.rope.scaling.original_context_length`, u32(orig)]);
            const extra: [string, number | undefined][] = [
                ["yarn_ext_factor", num(rope, "extrapolation_factor", "rope_scaling.")],
                ["yarn_attn_factor", num(rope, "attention_factor", "rope_scaling.") ?? num(rope, "attn_factor", "rope_scaling.")],
                ["yarn_beta_fast", num(rope, "beta_fast", "rope_scaling.")],
                ["yarn_beta_slow", num(rope, "beta_slow", "rope_scaling.")]
            ];
            for (const [k, v] of extra) if (v !== undefined) metadata.push([`${a}.rope.scaling.${k}`, f32(v)]);
        } else if (ropeType.toLowerCase() === "llama3" && a === "llama") {
            ropeFreqs = llama3RopeFactors(ropeTheta ?? 10000, headDim, (k) => num(rope, k, "rope_scaling."));
        } else if (ropeType !== "default" && ropeType !== "dynamic") {
            // ("dynamic" NTK scaling has no llama.cpp equivalent: its converter leaves it out, and so do we)
            throw bad(`rope scaling "${ropeType}" is not supported for ${arch.hf} (linear, yarn${a === "llama" ? ", llama3" : ""} are)`);
        }
    }
    if (ropeTheta !== undefined) metadata.push([`${a}.rope.freq_base`, f32(ropeTheta)]);
    const eps = num(config as Record<string, unknown>, "rms_norm_eps", "");
    if (eps !== undefined) metadata.push([`${a}.attention.layer_norm_rms_epsilon`, f32(eps)]);
    if (headDimKey !== undefined) metadata.push([`${a}.attention.key_length`, u32(headDimKey)], [`${a}.attention.value_length`, u32(headDimKey)]);
    if (a === "llama") metadata.push([`${a}.vocab_size`, u32(vocabSize!)], [`${a}.rope.dimension_count`, u32(headDim)]);

    return { metadata, shape: { nLayer, nEmbd, nFf, nHead, nHeadKv: nHeadKv ?? nHead, headDim, vocabSize }, ropeFreqs };
}

/** Llama 3.1's frequency-dependent RoPE scaling as factors per frequency (LlamaModel.generate_extra_tensors, in f32 like torch). */
function llama3RopeFactors(base: number, dim: number, num: (k: string) => number | undefined): Float32Array {
    const factor = num("factor") ?? 8.0;
    const lowFreqFactor = num("low_freq_factor") ?? 1.0;
    const highFreqFactor = num("high_freq_factor") ?? 4.0;
    const oldContextLen = num("original_max_position_embeddings") ?? 8192;
    const lowFreqWavelen = oldContextLen / lowFreqFactor;
    const highFreqWavelen = oldContextLen / highFreqFactor;
    const out = new Float32Array(dim / 2);
    for (let i = 0; i < dim / 2; i++) {
        const freq = Math.fround(1 / Math.fround(base ** Math.fround((2 * i) / dim)));
        const wavelen = (2 * Math.PI) / freq;
        if (wavelen < highFreqWavelen) out[i] = 1;
        else if (wavelen > lowFreqWavelen) out[i] = factor;
        else {
            const smooth = (oldContextLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
            out[i] = 1 / ((1 - smooth) / factor + smooth);
        }
    }
    return out;
}
