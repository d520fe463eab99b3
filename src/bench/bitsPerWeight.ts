// Bits per weight of the weights a comparison is about (those the converter codes by default): file bytes x 8 / elements over exactly the
// tensors the converter codes (GUIDE §4), so entropy-coded models and llama-quantize's are counted alike.
import { inspectModel } from "../inspect/inspectModel.js";

export interface LinearWeightStats {
    tensors: number;
    bytes: number;
    elements: number;
    bitsPerWeight: number;
    /** how many of these tensors have each ggml type, e.g. { q4_K: 20, q6_K: 5 } */
    types: Record<string, number>;
}

export interface WeightTensor {
    name: string;
    type: string;
    bytes: number;
    elements: number;
}

/** Sums the tensors named in `names`; every name must be present (a missing one would skew the rate). */
export function bitsPerWeight(tensors: WeightTensor[], names: ReadonlySet<string>): LinearWeightStats {
    const byName = new Map(tensors.map((t) => [t.name, t]));
    const missing = [...names].filter((n) => !byName.has(n));
    if (missing.length) throw new Error(`bits/weight: tensor(s) ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""} not in the model`);
    const s: LinearWeightStats = { tensors: 0, bytes: 0, elements: 0, bitsPerWeight: 0, types: {} };
    for (const n of names) {
        const t = byName.get(n)!;
        s.tensors++;
        s.bytes += t.bytes;
        s.elements += t.elements;
        s.types[t.type] = (s.types[t.type] ?? 0) + 1;
    }
    s.bitsPerWeight = s.elements ? (s.bytes * 8) / s.elements : 0;
    return s;
}

/**
 * A GGUF's tensors with their bytes and element counts, as `entgguf inspect` reports them: an ENTQ tensor
 * is a 1-D byte stream in the file, its elements are its stream header's K x N.
 */
export async function readWeightTensors(file: string): Promise<WeightTensor[]> {
    const r = await inspectModel(file, { decode: false });
    return r.tensors.map((t) => ({
        name: t.name,
        type: t.type,
        bytes: t.bytes,
        elements: t.entq ? t.entq.shape[0] * t.entq.shape[1] : t.dims.reduce((a, d) => a * d, 1)
    }));
}
