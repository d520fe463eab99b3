/** Why a file could not be read as GGUF. */
export type GgufFormatErrorCode =
    /** the file does not start with the magic "GGUF" */
    | "NOT_GGUF"
    /** a GGUF version other than 2 or 3 (or a big-endian file) */
    | "UNSUPPORTED_VERSION"
    /** the header, metadata, tensor infos or tensor data run past the end of the file */
    | "TRUNCATED"
    /** a metadata key or value is malformed (unknown value type, bad bool, invalid UTF-8, duplicate key, bad general.alignment, ...) */
    | "BAD_METADATA"
    /** a tensor info is malformed (too many dimensions, duplicate name, shape not a whole number of blocks, ...) */
    | "BAD_TENSOR_INFO"
    /** a tensor's ggml type is not one this reader knows (see ggmlTypes) */
    | "UNKNOWN_TENSOR_TYPE"
    /** tensor data misaligned or overlapping another tensor */
    | "BAD_OFFSETS";

/** A file that is not a GGUF this reader can use; the message names the file and the problem. */
export class GgufFormatError extends Error {
    readonly code: GgufFormatErrorCode;
    readonly file: string;

    constructor(code: GgufFormatErrorCode, file: string, problem: string) {
        super(`${file}: ${problem}`);
        this.name = "GgufFormatError";
        this.code = code;
        this.file = file;
    }
}
