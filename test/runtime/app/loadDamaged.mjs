// An app that meets a damaged coded model: loading it must reject (catchable), and the app keeps running:
// it then loads the sound model and generates. Prints one JSON line. Usage: node loadDamaged.mjs <bad.gguf> <good.gguf>
import { LlamaCompletion, LlamaLogLevel } from "node-llama-cpp";

import { getEntLlama } from "../../../dist/src/index.js";

const [bad, good] = process.argv.slice(2);
const llama = await getEntLlama({ autoBuild: false, logLevel: LlamaLogLevel.error });
const logs = [];
llama.logger = (level, message) => void logs.push(message.trim());
let error;
try {
    await llama.loadModel({ modelPath: bad, gpuLayers: 0 });
} catch (e) {
    error = e.message;
}
// llama.cpp's log lines cross threads asynchronously: give the last one a moment
for (let i = 0; i < 100 && !logs.some((l) => l.includes("failed to load model")); i++) await new Promise((r) => setTimeout(r, 20));
const model = await llama.loadModel({ modelPath: good, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 128 });
const text = await new LlamaCompletion({ contextSequence: context.getSequence() }).generateCompletion("Once upon a time", { maxTokens: 8, temperature: 0 });
await context.dispose();
await model.dispose();
console.log(JSON.stringify({ error, reason: logs.find((l) => l.includes("damaged") || l.includes("checksum")), text }));
