// Reads the fallbacks llama-quantize reports (src/llama-quant.cpp, tensor_type_fallback): a tensor whose
// row length is not a multiple of the wanted type's block (256 for k-quants and most IQ types) gets
// another type. A comparison that does not show these hides what the peer type really was.

export interface QuantizeFallback {
    tensor: string;
    /** row length (ne[0]) */
    cols: number;
    /** the block size the wanted type needs */
    block: number;
    wanted: string;
    used: string;
}

const FALLBACK =
    /warning: (\S+)\s+- ncols\s+(\d+) not divisible by\s+(\d+) \(required for type\s+(\S+)\)\s*(?:\(WARNING: must use F16 due to unusual shape\)\s*)?-> falling back to\s+(\S+)/g;

export function parseQuantizeLog(log: string): { fallbacks: QuantizeFallback[]; reportedFallbacks?: number } {
    const fallbacks = [...log.matchAll(FALLBACK)].map((m) => ({ tensor: m[1]!, cols: Number(m[2]), block: Number(m[3]), wanted: m[4]!, used: m[5]! }));
    // "WARNING: 35 of 57 tensor(s) required fallback quantization": the count, to check the lines against
    const total = /WARNING: (\d+) of \d+ tensor\(s\) required fallback quantization/.exec(log);
    return { fallbacks, reportedFallbacks: total ? Number(total[1]) : undefined };
}
