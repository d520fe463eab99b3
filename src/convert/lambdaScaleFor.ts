// A per-tensor split of bits (issue 22): tensors matching a glob are coded at the model's lambda times a
// factor, so a factor < 1 spends more bits on them and > 1 fewer; --bits still meets the model's target
// (the lambda search predicts every tensor at its own scaled lambda).
import { globToRegExp } from "./selectTensors.js";

/** `pattern=factor`: the tensors matching the glob get lambda x factor. */
export interface LambdaScale {
    pattern: string;
    scale: number;
}

/**
 * The default split (data-free, by role): the token embeddings and the output head at a quarter of the
 * model's lambda. An error there reaches every token's input or its logits directly, not diluted by the
 * residual stream. At equal whole-file size it lowers KL-divergence against one lambda for all to 0.62-0.80x
 * on the shared 5M model and 0.76-0.97x on the synthetic one at 2.5-4 bits (1.00-1.02x at 4.5-5), and beats
 * the other candidates tried, e.g. more bits to attn_v/ffn_down as k-quants do (docs/BENCHMARKS.md, issue 22).
 */
export const DEFAULT_LAMBDA_SCALES: readonly LambdaScale[] = [
    { pattern: "token_embd.weight", scale: 0.25 },
    { pattern: "output.weight", scale: 0.25 }
];

/** The factor for a tensor: the first pattern that matches, else 1. */
export function lambdaScaleFor(name: string, scales: readonly LambdaScale[] | undefined): number {
    for (const s of scales ?? []) if (globToRegExp(s.pattern).test(name)) return s.scale;
    return 1;
}

/** "blk.*.attn_v.weight=0.5" -> { pattern, scale }; throws on anything else. */
export function parseLambdaScale(s: string): LambdaScale {
    const at = s.lastIndexOf("=");
    const pattern = at > 0 ? s.slice(0, at) : "";
    const scale = Number(s.slice(at + 1));
    if (!pattern || !(scale > 0 && Number.isFinite(scale))) throw new Error(`a lambda scale is <glob>=<factor > 0>, e.g. 'blk.*.attn_v.weight=0.5', not '${s}'`);
    return { pattern, scale };
}
