import { getNativeBinding, type NativeEncodeOptions, type NativeEncodeResult } from "../native/binding.js";
import { EntqStreamError } from "./EntqStreamError.js";

export interface EncodeStreamOptions extends NativeEncodeOptions {
    /** row length */
    K: number;
    /** rows */
    N: number;
    /** for error messages */
    tensor?: string;
}

/** Entropy-codes a tensor's 8-bit codes (row-major, N x K) into one ENTQ stream, off the main thread. */
export async function encodeStream(codes: Uint8Array, options: EncodeStreamOptions): Promise<NativeEncodeResult> {
    const { K, N, tensor, ...native } = options;
    try {
        return await getNativeBinding().encode(codes, K, N, native);
    } catch (e) {
        throw EntqStreamError.from(e, tensor);
    }
}
