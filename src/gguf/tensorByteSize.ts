import type { GgmlTypeInfo } from "./ggmlTypes.js";

/** Most dimensions a ggml tensor has (GGML_MAX_DIMS). */
export const GGML_MAX_DIMS = 4;

/**
 * Bytes of a contiguous tensor (ggml_nbytes): rows of ne[0] / blockSize blocks of typeSize bytes.
 * Throws a RangeError saying what is wrong with the shape; callers add the file and tensor name.
 */
export function tensorByteSize(type: GgmlTypeInfo, dims: readonly number[]): number {
    if (dims.length > GGML_MAX_DIMS) throw new RangeError(`has ${dims.length} dimensions, more than ggml's ${GGML_MAX_DIMS}`);
    let elements = 1;
    for (const d of dims) {
        if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`has dimension ${d}, not a non-negative integer below 2^53`);
        elements *= d;
        if (!Number.isSafeInteger(elements)) throw new RangeError(`has shape [${dims.join(", ")}], more than 2^53 elements`);
    }
    const ne0 = dims[0] ?? 1;
    if (ne0 % type.blockSize !== 0)
        throw new RangeError(`has ne[0] = ${ne0}, not a multiple of ${type.name}'s block size ${type.blockSize}`);
    const bytes = (elements / type.blockSize) * type.typeSize;
    if (!Number.isSafeInteger(bytes)) throw new RangeError(`has shape [${dims.join(", ")}], more than 2^53 bytes`);
    return bytes;
}
