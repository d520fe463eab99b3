// Loads each GGUF of a list through the patched llama.cpp, as an app would (loadEntModel), and says per file
// whether it was refused (with the error's stage and message), or loaded with the original's logits ("same") or
// other ones ("different"). The prompt is the original's token ids, evaluated as ids, so that a changed vocabulary
// does not change what is evaluated. One JSON line per file, preceded by a "start <i>" line, so that a crash or a
// hang names the file (src/mutants/runMutants.ts restarts after it).
// Usage: node loadMutants.mjs <original> <list.json> [first index]
import { readFileSync } from "node:fs";

import { LlamaLogLevel } from "node-llama-cpp";

import { EntModelLoadError, getEntLlama, loadEntModel } from "../dist/src/index.js";

const [original, list, first = "0"] = process.argv.slice(2);
const files = JSON.parse(readFileSync(list, "utf8"));
const llama = await getEntLlama({ autoBuild: false, logLevel: LlamaLogLevel.disabled });

async function logits(path, tokens) {
    const model = await loadEntModel(llama, { modelPath: path, gpuLayers: 0 });
    try {
        const prompt = tokens ?? [model.tokens.bos, ...model.tokenize("Once upon a time")];
        const context = await model.createContext({ contextSize: 64, batchSize: 16, sequences: 1 });
        const out = await context.getSequence().controlledEvaluate(prompt.map((t) => [t, { generateNext: { logits: true } }]));
        await context.dispose();
        return { prompt, values: out.flatMap((o) => [...(o?.next.logits?.values() ?? [])]) };
    } finally {
        await model.dispose();
    }
}

const reference = await logits(original);
for (let i = Number(first); i < files.length; i++) {
    console.log(`start ${i}`);
    const t0 = performance.now();
    let result;
    try {
        const { values } = await logits(files[i], reference.prompt);
        const same = values.length === reference.values.length && values.every((v, j) => Object.is(v, reference.values[j]));
        result = { outcome: same ? "same" : "different" };
    } catch (e) {
        result = e instanceof EntModelLoadError ? { outcome: "refused", stage: e.stage, message: e.message } : { outcome: "error", message: String(e?.stack ?? e) };
    }
    console.log(JSON.stringify({ i, ...result, ms: Math.round(performance.now() - t0) }));
}
