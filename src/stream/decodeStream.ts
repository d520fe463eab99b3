import { getNativeBinding, type NativeDecodeOptions, type NativeStreamInfo } from "../native/binding.js";
import { EntqStreamError } from "./EntqStreamError.js";

export interface DecodeStreamOptions extends NativeDecodeOptions {
    /** for error messages */
    tensor?: string;
}

/**
 * Decodes an ENTQ stream after checking its checksum: `codes` gives the 8-bit
 * codes, `values` the exact dequantised f32 values (codebook[code] x row scale).
 */
export async function decodeStream(
    stream: Uint8Array,
    output: "codes",
    options?: DecodeStreamOptions
): Promise<{ codes: Buffer; info: NativeStreamInfo }>;
export async function decodeStream(
    stream: Uint8Array,
    output: "values",
    options?: DecodeStreamOptions
): Promise<{ values: Float32Array; info: NativeStreamInfo }>;
export async function decodeStream(stream: Uint8Array, output: "codes" | "values", options: DecodeStreamOptions = {}) {
    const { tensor, ...native } = options;
    const b = getNativeBinding();
    try {
        return output === "codes" ? await b.decode(stream, native) : await b.dequantize(stream, native);
    } catch (e) {
        throw EntqStreamError.from(e, tensor);
    }
}
