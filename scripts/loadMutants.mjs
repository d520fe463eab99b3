// Loads each GGUF of a list through the patched llama.cpp, as an app would, and says per file whether it was
// refused, or loaded with the original's logits ("same") or other ones ("different"). One JSON line per file,
// preceded by a "start <i>" line, so that a crash names the file. Usage: node loadMutants.mjs <original> <list.json>
import { readFileSync } from "node:fs";

import { LlamaLogLevel } from "node-llama-cpp";

import { getEntLlama } from "../dist/src/index.js";

const [original, list] = process.argv.slice(2);
const files = JSON.parse(readFileSync(list, "utf8"));
const llama = await getEntLlama({ autoBuild: false, logLevel: LlamaLogLevel.disabled });

async function logits(path) {
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    try {
        const context = await model.createContext({ contextSize: 64, batchSize: 16, sequences: 1 });
        const prompt = [model.tokens.bos, ...model.tokenize("Once upon a time")];
        const out = await context.getSequence().controlledEvaluate(prompt.map((t) => [t, { generateNext: { logits: true } }]));
        await context.dispose();
        return out.flatMap((o) => [...(o?.next.logits?.values() ?? [])]);
    } finally {
        await model.dispose();
    }
}

const reference = await logits(original);
for (const [i, file] of files.entries()) {
    console.log(`start ${i}`);
    const t0 = performance.now();
    let outcome;
    try {
        const l = await logits(file);
        outcome = l.length === reference.length && l.every((v, j) => v === reference[j]) ? "same" : "different";
    } catch {
        outcome = "refused";
    }
    console.log(JSON.stringify({ i, outcome, ms: Math.round(performance.now() - t0) }));
}
