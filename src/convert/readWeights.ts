// Reads one tensor's data as f32 weights, whatever its stored type (F32, F16,
// BF16, or Q8_0 dequantised): the stored bytes land in the output's own
// memory and are converted there natively, so no more than the tensor is in memory.
import { GgmlType } from "../gguf/ggmlTypes.js";
import { getNativeBinding } from "../native/binding.js";
import type { ModelSource, SourceTensorInfo } from "./ModelSource.js";

/** The stored types the converter reads. */
export const READABLE_WEIGHT_TYPES: ReadonlySet<number> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0]);

/** Bytes of count stored elements: Q8_0 blocks are an f16 scale + 32 int8 = 34 bytes for 32 elements. */
function storedBytes(type: number, count: number): number {
    return type === GgmlType.F32 ? 4 * count : type === GgmlType.Q8_0 ? (count / 32) * 34 : 2 * count;
}

/**
 * The tensor as f32, row-major (ne[0] contiguous). With `reuse` large enough the
 * result is a view of it (valid until the next call that reuses it): converting a
 * model then touches no fresh memory per tensor, which VMs charge dearly for
 * (docs/BENCHMARKS.md "Converter"). A source that reads into a given buffer
 * (readTensorInto: GGUF files) is read straight into place; others chunk by chunk.
 */
export async function readWeights(
    reader: Pick<ModelSource, "file" | "readTensorChunks" | "readTensorInto">,
    tensor: SourceTensorInfo,
    reuse?: Float32Array
): Promise<Float32Array> {
    if (!READABLE_WEIGHT_TYPES.has(tensor.type))
        throw new TypeError(`${reader.file}: tensor "${tensor.name}" has type ${tensor.type}, which cannot be read as weights (F32, F16, BF16, Q8_0 can)`);
    const count = tensor.dims.reduce((a, b) => a * b, 1);
    const stored = storedBytes(tensor.type, count);
    if (stored !== tensor.byteSize) throw new Error(`${reader.file}: tensor "${tensor.name}" holds ${tensor.byteSize} bytes, ${count} weights need ${stored}`);
    const out = reuse && reuse.length >= count ? reuse.subarray(0, count) : new Float32Array(count);
    // the stored bytes go to the end of out, then become f32 in place, front to back
    const tail = new Uint8Array(out.buffer, out.byteOffset + 4 * count - stored, stored);
    if (reader.readTensorInto) await reader.readTensorInto(tensor, tail);
    else {
        let at = 0;
        for await (const chunk of reader.readTensorChunks(tensor)) {
            if (at + chunk.length > stored) throw new Error(`${reader.file}: tensor "${tensor.name}" gave more than its ${stored} bytes`);
            tail.set(chunk, at);
            at += chunk.length;
        }
        if (at !== stored) throw new Error(`${reader.file}: tensor "${tensor.name}" gave ${at} of its ${stored} bytes`);
    }
    getNativeBinding().sourceToF32InPlace(tensor.type, out, count);
    return out;
}
