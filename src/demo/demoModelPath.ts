// The model the package carries for first runs and tests: no download needed (models/README.md).
import { join } from "node:path";

import { packageRoot } from "../native/binding.js";

/** stories260K.gguf (Karpathy's TinyStories 260K Llama, F32, MIT) inside the installed package. */
export function demoModelPath(): string {
    return join(packageRoot(), "models", "stories260K.gguf");
}
