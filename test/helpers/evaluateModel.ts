// One model through node-llama-cpp as the end-to-end tests compare them (coded vs its dequantised twin):
// every prompt position's logits with f32 attention (F32 KV cache, no flash attention: see
// test/runtime/endToEnd.test.ts), then greedy tokens, and the CPU_ENTQ buffer's "entq: CPU layout" line.
import { LlamaLogLevel, type Llama, type LlamaModel, type Token } from "node-llama-cpp";

export interface ModelEvaluation {
    logits: Float64Array[];
    greedy: Token[];
    text: string;
    /** coded weights repacked into the CPU layout (0 when none was, or the model has none) */
    layoutWeights: number;
    layoutLine: string;
}

export async function evaluateModel(
    llama: Llama,
    modelPath: string,
    useMmap: boolean,
    prompt: (model: LlamaModel) => Token[],
    greedyTokens: number
): Promise<ModelEvaluation> {
    // llama.cpp's CPU_ENTQ buffer reports (at info level) how many coded weights it repacked into the CPU layout
    let layoutLine = "";
    const { logger, logLevel } = llama;
    llama.logLevel = LlamaLogLevel.info;
    llama.logger = (level, message) => {
        if (message.startsWith("entq: CPU layout")) layoutLine = message;
        else if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) logger(level, message);
    };
    const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap });
    // log lines cross threads asynchronously: the line comes once every coded weight is loaded, if any is
    for (let i = 0; i < 25 && !layoutLine; i++) await new Promise((r) => setTimeout(r, 20));
    llama.logger = logger;
    llama.logLevel = logLevel;
    try {
        const context = await model.createContext({
            contextSize: 256,
            batchSize: 64,
            sequences: 1,
            flashAttention: false,
            experimentalKvCacheKeyType: "F32",
            experimentalKvCacheValueType: "F32"
        });
        const sequence = context.getSequence();
        const tokens = prompt(model);
        const out = await sequence.controlledEvaluate(tokens.map((t) => [t, { generateNext: { logits: true } }]));
        const logits = out.map((o, i) => {
            const m = o?.next.logits;
            if (!m) throw new Error(`no logits at prompt position ${i}`);
            const row = new Float64Array(m.size); // every token of the vocabulary
            for (const [t, v] of m) row[t] = v;
            return row;
        });
        await sequence.clearHistory();
        const greedy: Token[] = [];
        for await (const t of sequence.evaluate(tokens, { temperature: 0 })) {
            greedy.push(t);
            if (greedy.length >= greedyTokens) break;
        }
        await context.dispose();
        const m = /(\d+) of (\d+) coded weights repacked/.exec(layoutLine);
        return { logits, greedy, text: model.detokenize(greedy), layoutWeights: m ? Number(m[1]) : 0, layoutLine: layoutLine.trim() };
    } finally {
        await model.dispose();
    }
}
