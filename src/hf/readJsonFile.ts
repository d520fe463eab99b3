import fs from "node:fs/promises";

import { HfInputError } from "./HfInputError.js";

/** A JSON file of the model folder, parsed; undefined when it is absent and `optional`, else a MISSING_FILE error. */
export async function readJsonFile(file: string, optional = false): Promise<unknown> {
    let text: string;
    try {
        text = await fs.readFile(file, "utf8");
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") {
            if (optional) return undefined;
            throw new HfInputError("MISSING_FILE", file, "missing: a Hugging Face model folder needs it");
        }
        throw new HfInputError("MISSING_FILE", file, `cannot be read (${(e as Error).message})`);
    }
    try {
        return JSON.parse(text);
    } catch (e) {
        throw new HfInputError("BAD_JSON", file, `not valid JSON (${(e as Error).message})`);
    }
}
