import { getNativeBinding, type NativeStreamInfo, type NativeValidateOptions } from "../native/binding.js";
import { EntqStreamError } from "./EntqStreamError.js";

export interface ValidateStreamOptions extends NativeValidateOptions {
    tensor?: string;
}

/**
 * Checks a stream: header, table, offsets and sizes against its byte count,
 * and (deep, the default) its checksum and every segment decoded. Resolves
 * with the stream's info; rejects with EntqStreamError naming the problem.
 */
export async function validateStream(stream: Uint8Array, options: ValidateStreamOptions = {}): Promise<NativeStreamInfo> {
    const { tensor, ...native } = options;
    const r = await getNativeBinding().validate(stream, native);
    if (!r.ok) {
        const where = r.segment === undefined ? "" : ` (segment ${r.segment})`;
        throw new EntqStreamError(r.code, `invalid ENTQ stream${where}: ${r.message}`, tensor);
    }
    return r.info!;
}
