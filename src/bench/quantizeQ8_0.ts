// A Q8_0 copy of a GGUF for speed comparisons (no llama-quantize here): every
// 2-D weight whose rows are whole 32-blocks becomes Q8_0 with ggml's own
// rounding (quantize_row_q8_0_ref), everything else is copied unchanged.
import { readWeights, READABLE_WEIGHT_TYPES } from "../convert/readWeights.js";
import type { GgufValue } from "../gguf/GgufFileInfo.js";
import { GgmlType } from "../gguf/ggmlTypes.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import { readGguf } from "../gguf/readGguf.js";
import { writeGguf } from "../gguf/writeGguf.js";
import { toF16 } from "./makeSyntheticModel.js";

const QK8_0 = 32;
const BLOCK_BYTES = 2 + QK8_0; // f16 d, then 32 x int8
const LLAMA_FTYPE_MOSTLY_Q8_0 = 7;

/**
 * ggml's quantize_row_q8_0_ref: per block of 32, d = max|x| / 127 (stored as f16),
 * q = roundf(x * (1/d)) with f32 arithmetic and the unrounded d, ties away from zero.
 */
export function quantizeRowsQ8_0(x: Float32Array): Uint8Array {
    if (x.length % QK8_0) throw new RangeError(`Q8_0 needs a multiple of ${QK8_0} values, not ${x.length}`);
    const out = new Uint8Array((x.length / QK8_0) * BLOCK_BYTES);
    const view = new DataView(out.buffer);
    for (let b = 0, o = 0; b < x.length; b += QK8_0, o += BLOCK_BYTES) {
        let amax = 0;
        for (let j = 0; j < QK8_0; j++) amax = Math.max(amax, Math.abs(x[b + j]!));
        const d = Math.fround(amax / 127);
        const id = d ? Math.fround(1 / d) : 0;
        view.setUint16(o, toF16(d), true);
        for (let j = 0; j < QK8_0; j++) {
            const v = Math.fround(x[b + j]! * id);
            view.setInt8(o + 2 + j, Math.sign(v) * Math.round(Math.abs(v))); // roundf: half away from zero
        }
    }
    return out;
}

/** Writes `output`: `input` with its 2-D and 3-D (experts') F32/F16/BF16 weights but MoE routers (as llama-quantize) (row length a multiple of 32) in Q8_0. Returns how many became Q8_0. */
export async function quantizeQ8_0(input: string, output: string): Promise<number> {
    const reader = await readGguf(input);
    try {
        const { info } = reader;
        const quantize = new Set(
            info.tensors
                .filter((t) => (t.dims.length === 2 || t.dims.length === 3) && !t.name.endsWith("ffn_gate_inp.weight") && t.dims[0]! % QK8_0 === 0 && t.type !== GgmlType.Q8_0 && READABLE_WEIGHT_TYPES.has(t.type))
                .map((t) => t.name)
        );
        await writeGguf(
            output,
            {
                version: info.version,
                metadata: new Map<string, GgufValue>([...info.metadata, ["general.file_type", { type: GgufValueType.UINT32, value: LLAMA_FTYPE_MOSTLY_Q8_0 }]]),
                tensors: info.tensors.map((t) => ({ name: t.name, type: quantize.has(t.name) ? GgmlType.Q8_0 : t.type, dims: t.dims }))
            },
            async (_spec, i) => {
                const t = info.tensors[i]!;
                return quantize.has(t.name) ? quantizeRowsQ8_0(await readWeights(reader, t)) : reader.readTensorChunks(t);
            }
        );
        return quantize.size;
    } finally {
        await reader.close();
    }
}
