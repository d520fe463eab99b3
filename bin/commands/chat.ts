import { createInterface } from "node:readline/promises";

import { Command, InvalidArgumentError } from "commander";
import { LlamaChatSession, LlamaCompletion, LlamaLogLevel, type LlamaContext, type LlamaModel } from "node-llama-cpp";

import { getEntLlama } from "../../src/runtime/getEntLlama.js";
import { loadEntModel } from "../../src/runtime/loadEntModel.js";
import { tokenWriter } from "../tokenWriter.js";

function integer(what: string) {
    return (v: string) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a non-negative integer`);
        return n;
    };
}

function number(what: string) {
    return (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${what} must be a non-negative number`);
        return n;
    };
}

interface ChatOptions {
    system?: string;
    prompt?: string;
    mode: "auto" | "chat" | "complete";
    maxTokens: number;
    temperature: number;
    seed?: number;
    contextSize?: number;
    threads?: number;
    echo: boolean;
    rpc?: string[];
    gpuLayers?: number | "max";
}

/** A model with a chat template chats; a base model (no template, e.g. stories260K) continues text. */
function chooseMode(model: LlamaModel, mode: ChatOptions["mode"]): "chat" | "complete" {
    if (mode !== "auto") return mode;
    return model.fileInfo.metadata.tokenizer?.chat_template ? "chat" : "complete";
}

/** Streams one answer (chat) or continuation (complete) to stdout. */
function makeResponder(context: LlamaContext, mode: "chat" | "complete", o: ChatOptions) {
    const generation = { maxTokens: o.maxTokens, temperature: o.temperature, seed: o.seed };
    if (mode === "chat") {
        const session = new LlamaChatSession({ contextSequence: context.getSequence(), systemPrompt: o.system });
        return (input: string) => session.prompt(input, { ...generation, onTextChunk: (text: string) => void process.stdout.write(text) });
    }
    const sequence = context.getSequence();
    const completion = new LlamaCompletion({ contextSequence: sequence });
    // a base model has no roles: the system text, if any, leads every prompt
    return async (input: string) => {
        const prompt = o.system ? `${o.system}\n${input}` : input;
        if (o.echo) process.stdout.write(input);
        const text = await completion.generateCompletion(prompt, { ...generation, onToken: tokenWriter(context.model, prompt) });
        await sequence.clearHistory(); // each prompt continues on its own
        return text;
    };
}

export function registerChatCommand(program: Command): void {
    program
        .command("chat")
        .description("chat with (or continue text from) a GGUF, coded or not, on the patched llama.cpp; streams tokens")
        .argument("<model.gguf>", "model to run")
        .option("-s, --system <text>", "system prompt (for models without a chat template: text put before every prompt)")
        .option("-p, --prompt <text>", "answer this one prompt and exit (non-interactive, for scripts)")
        .option("--mode <mode>", "auto (chat if the model has a chat template, else complete), chat or complete", "auto")
        .option("-n, --max-tokens <n>", "tokens to generate per answer", integer("--max-tokens"), 256)
        .option("--temperature <x>", "sampling temperature; 0 is greedy", number("--temperature"), 0)
        .option("--seed <n>", "sampling seed (with --temperature > 0)", integer("--seed"))
        .option("-c, --context-size <n>", "context size in tokens (default: what fits, up to the model's)", integer("--context-size"))
        .option("-t, --threads <n>", "CPU threads (default: node-llama-cpp's)", integer("--threads"))
        .option("--no-echo", "complete mode: do not print the prompt before its continuation")
        .option("--rpc <list>", "`entgguf rpc-server` endpoints (host:port,...) whose memory takes model layers (a model too large for this machine)", (v: string) =>
            v.split(",").map((s) => s.trim()).filter(Boolean)
        )
        .option("--gpu-layers <n>", "layers on the RPC servers (or GPU), split by their free memory; the rest run on this CPU (default with --rpc: max)", (v: string) =>
            v === "max" ? "max" : integer("--gpu-layers")(v)
        )
        .action(async (modelPath: string, o: ChatOptions) => {
            if (!["auto", "chat", "complete"].includes(o.mode)) throw new InvalidArgumentError("--mode must be auto, chat or complete");
            const llama = await getEntLlama({ logLevel: LlamaLogLevel.error, rpcServers: o.rpc });
            // a damaged file: one error naming it and the problem
            const model = await loadEntModel(llama, { modelPath, gpuLayers: o.gpuLayers ?? (o.rpc?.length ? "max" : undefined) });
            const context = await model.createContext({ contextSize: o.contextSize, threads: o.threads });
            const mode = chooseMode(model, o.mode);
            const respond = makeResponder(context, mode, o);
            try {
                if (o.prompt !== undefined) {
                    await respond(o.prompt);
                    process.stdout.write("\n");
                    return;
                }
                const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: "> " });
                console.error(`[entgguf] ${modelPath}: ${mode === "chat" ? "chat" : "text completion (no chat template)"}; an empty line or Ctrl-D ends`);
                rl.prompt();
                for await (const line of rl) {
                    if (line.trim() === "") break;
                    await respond(line);
                    process.stdout.write("\n");
                    rl.prompt();
                }
                rl.close();
            } finally {
                await context.dispose();
                await model.dispose();
            }
        });
}
