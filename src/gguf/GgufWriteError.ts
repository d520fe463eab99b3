/** Why a GGUF could not be written. */
export type GgufWriteErrorCode =
    /** the target's directory does not exist, or the target is a directory */
    | "OUTPUT_PATH"
    /** a metadata value does not fit its declared type, or general.alignment is invalid */
    | "BAD_METADATA"
    /** a tensor spec is invalid: unknown type, bad shape, duplicate or over-long name */
    | "BAD_TENSOR"
    /** a tensor's data source gave a different number of bytes than its shape needs */
    | "TENSOR_DATA"
    /** the final metadata would change the header's size, which is fixed once data is written */
    | "HEADER_CHANGED"
    /** the file system failed the write: no space left (ENOSPC), quota, read-only, I/O error, permissions */
    | "IO";

/** A GGUF that could not be written; nothing is left under the target name. The message names the target file. */
export class GgufWriteError extends Error {
    readonly code: GgufWriteErrorCode;
    readonly file: string;

    constructor(code: GgufWriteErrorCode, file: string, problem: string) {
        super(`cannot write ${file}: ${problem}`);
        this.name = "GgufWriteError";
        this.code = code;
        this.file = file;
    }
}
