/** A stream that could not be encoded, decoded or validated; names the file and tensor when known. */
export class EntqStreamError extends Error {
    /** "ENTQ_TRUNCATED", "ENTQ_CHECKSUM", ... (the native status name) */
    readonly code: string;
    readonly tensor?: string;
    readonly file?: string;

    constructor(code: string, message: string, tensor?: string, file?: string) {
        super(`${file ? `${file}: ` : ""}${tensor ? `tensor "${tensor}": ` : ""}${message}`);
        this.name = "EntqStreamError";
        this.code = code;
        this.tensor = tensor;
        this.file = file;
    }

    /** Wraps an error thrown by the addon (it carries .code = "ENTQ_*"); anything else passes through. */
    static from(e: unknown, tensor?: string, file?: string): unknown {
        const code = (e as { code?: unknown })?.code;
        if (typeof code === "string" && code.startsWith("ENTQ_")) return new EntqStreamError(code, (e as Error).message, tensor, file);
        return e;
    }
}
