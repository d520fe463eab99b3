import type { GgufMetadata } from "./GgufFileInfo.js";
import { GgufValueType } from "./GgufValueType.js";

/** GGUF's alignment of the data section and of each tensor's data when general.alignment is absent. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** The alignment a GGUF with this metadata uses; throws a RangeError when general.alignment is not a u32 power of 2 (as gguf.cpp requires). */
export function ggufAlignment(metadata: GgufMetadata): number {
    const v = metadata.get("general.alignment");
    if (v === undefined) return GGUF_DEFAULT_ALIGNMENT;
    if (v.type !== GgufValueType.UINT32) throw new RangeError(`general.alignment has type ${GgufValueType[v.type]}; GGUF requires UINT32`);
    if (!Number.isInteger(v.value) || v.value <= 0 || v.value > 0xffffffff || (v.value & (v.value - 1)) !== 0)
        throw new RangeError(`general.alignment is ${v.value}, not a power of 2`);
    return v.value;
}
