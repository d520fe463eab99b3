// An app that meets a damaged coded model: loading it must reject (catchable, one error naming the file, the tensor
// and the segment), and the app keeps running: it then loads the sound model and generates. Prints one JSON line.
// Usage: node loadDamaged.mjs <bad.gguf> <good.gguf>
import { LlamaCompletion, LlamaLogLevel } from "node-llama-cpp";

import { getEntLlama, loadEntModel } from "../../../dist/src/index.js";

const [bad, good] = process.argv.slice(2);
const llama = await getEntLlama({ autoBuild: false, logLevel: LlamaLogLevel.disabled });
let error;
try {
    await loadEntModel(llama, { modelPath: bad, gpuLayers: 0 });
} catch (e) {
    error = { name: e.name, stage: e.stage, message: e.message };
}
const model = await loadEntModel(llama, { modelPath: good, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 128 });
const text = await new LlamaCompletion({ contextSequence: context.getSequence() }).generateCompletion("Once upon a time", { maxTokens: 8, temperature: 0 });
await context.dispose();
await model.dispose();
console.log(JSON.stringify({ error, text }));
