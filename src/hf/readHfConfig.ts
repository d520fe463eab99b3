import path from "node:path";

import { HF_ARCHITECTURES, type HfArchitecture } from "./hfArchitectures.js";
import { HfInputError } from "./HfInputError.js";
import { readJsonFile } from "./readJsonFile.js";

/** config.json as parsed (hyper-parameters by their Hugging Face names). */
export type HfConfig = Readonly<Record<string, unknown>>;

/** config.json and the architecture it names; an architecture the converter does not map is an error listing those it does. */
export async function readHfConfig(folder: string): Promise<{ file: string; config: HfConfig; arch: HfArchitecture }> {
    const file = path.join(folder, "config.json");
    const json = await readJsonFile(file);
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new HfInputError("BAD_JSON", file, "is not a JSON object");
    // multimodal wrappers keep the language model's hyper-parameters in text_config (as llama.cpp's converter reads them)
    const raw = json as Record<string, unknown>;
    const config = typeof raw.text_config === "object" && raw.text_config ? { ...raw, ...(raw.text_config as object) } : raw;
    const names = config.architectures;
    const name = Array.isArray(names) && typeof names[0] === "string" ? names[0] : undefined;
    const supported = HF_ARCHITECTURES.map((a) => a.hf).join(", ");
    if (!name) throw new HfInputError("BAD_JSON", file, `has no "architectures" entry (supported: ${supported})`);
    const arch = HF_ARCHITECTURES.find((a) => a.hf === name);
    if (!arch) throw new HfInputError("UNSUPPORTED_ARCHITECTURE", file, `architecture ${name} is not supported (supported: ${supported})`);
    return { file, config, arch };
}
