/** Why a Hugging Face model folder could not be converted. */
export type HfInputErrorCode =
    /** a file the conversion needs is absent (config.json, a tokenizer, the weights, a shard named by the index) */
    | "MISSING_FILE"
    /** a JSON file does not parse, or lacks a field the conversion needs */
    | "BAD_JSON"
    /** config.json names an architecture the converter does not map */
    | "UNSUPPORTED_ARCHITECTURE"
    /** a tensor's dtype is not F32, F16 or BF16 */
    | "UNSUPPORTED_DTYPE"
    /** a safetensors header is malformed or lies (offsets outside the file, overlapping, wrong byte counts) */
    | "BAD_SAFETENSORS"
    /** a tensor name has no GGUF equivalent, a tensor is missing, or its shape contradicts config.json */
    | "BAD_TENSOR"
    /** the tokenizer is malformed or of a kind llama.cpp's converter would not produce from it */
    | "BAD_TOKENIZER";

/** One clear error about the input folder: the message names the file and the problem. */
export class HfInputError extends Error {
    readonly code: HfInputErrorCode;
    readonly file: string;

    constructor(code: HfInputErrorCode, file: string, problem: string) {
        super(`${file}: ${problem}`);
        this.name = "HfInputError";
        this.code = code;
        this.file = file;
    }
}
