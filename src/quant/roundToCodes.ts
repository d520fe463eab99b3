import { CodeKind, getNativeBinding } from "../native/binding.js";
import { QuantizeError } from "./QuantizeError.js";

/**
 * The 8-bit codes of values: E4M3 (round to nearest even, saturating at +-448,
 * -0 folded to +0) or INT8 (round to nearest even, clamped to +-127).
 */
export function roundToCodes(values: Float32Array, codeKind: CodeKind.E4M3 | CodeKind.INT8): Uint8Array {
    if (codeKind !== CodeKind.E4M3 && codeKind !== CodeKind.INT8) throw new QuantizeError("OPTIONS", "codeKind must be E4M3 or INT8");
    return getNativeBinding().roundCodes(values, codeKind);
}
