/** Why a model could not be converted; names the file and, when known, the tensor. */
export type ConvertErrorCode =
    /** the input already holds entropy-coded tensors */
    | "ALREADY_CODED"
    /** a tensor chosen for coding has a type the converter cannot read */
    | "UNSUPPORTED_TYPE"
    /** no tensor matched the coding patterns */
    | "NOTHING_TO_CODE"
    /** an option is out of range */
    | "OPTIONS";

export class ConvertError extends Error {
    readonly code: ConvertErrorCode;

    constructor(code: ConvertErrorCode, message: string) {
        super(message);
        this.name = "ConvertError";
        this.code = code;
    }
}
