// An app's inference: the coded model through node-llama-cpp on entgguf's patched llama.cpp.
import { getEntLlama } from "entgguf";
import { LlamaCompletion, LlamaLogLevel } from "node-llama-cpp";

// autoBuild: false: the test copied the build in; a missing one must fail here, not build for minutes
const llama = await getEntLlama({ autoBuild: false, logLevel: LlamaLogLevel.info });
let layout = "";
llama.logger = (level, message) => {
    if (message.startsWith("entq: CPU layout")) layout = message.trim();
};
const model = await llama.loadModel({ modelPath: "coded.gguf", gpuLayers: 0 });
const context = await model.createContext({ contextSize: 256 });
let tokens = 0;
const text = await new LlamaCompletion({ contextSequence: context.getSequence() }).generateCompletion("Once upon a time", {
    maxTokens: 24,
    temperature: 0,
    onToken: (t) => void (tokens += t.length)
});
await context.dispose();
await model.dispose();
console.log(JSON.stringify({ text, tokens, layout }));
