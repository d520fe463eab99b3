import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Command, InvalidArgumentError } from "commander";
import { LlamaCompletion, LlamaLogLevel } from "node-llama-cpp";

import { convertModel } from "../../src/convert/convertModel.js";
import { demoModelPath } from "../../src/demo/demoModelPath.js";
import { inspectModel } from "../../src/inspect/inspectModel.js";
import { getEntLlama } from "../../src/runtime/getEntLlama.js";
import { tokenWriter } from "../tokenWriter.js";

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(2)} MB`;

function positive(what: string) {
    return (v: string) => {
        const n = Number(v);
        if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a positive number`);
        return n;
    };
}

export function registerDemoCommand(program: Command): void {
    program
        .command("demo")
        .description("first run, no download: code the bundled stories260K model, inspect it, and let it write a story with timings")
        .option("-o, --out <dir>", "folder for the coded model", join(tmpdir(), "entgguf-demo"))
        .option("--bits <n>", "target bits per weight of the coded tensors", positive("--bits"), 4)
        .option("-p, --prompt <text>", "the story's first words", "Once upon a time, there was a little")
        .option("-n, --max-tokens <n>", "tokens to generate", positive("--max-tokens"), 120)
        .action(async (o: { out: string; bits: number; prompt: string; maxTokens: number }) => {
            const source = demoModelPath();
            mkdirSync(o.out, { recursive: true });
            const coded = join(o.out, `stories260K-entq-${o.bits}.gguf`);

            console.log(`[1/3] convert ${source}\n      -> ${coded} at ${o.bits} bits/weight`);
            const s = await convertModel(source, coded, { bits: o.bits, progress: false });
            console.log(
                `      ${s.tensors.length} linear weights coded: ${mb(s.sourceBytes)} -> ${mb(s.codedBytes)} (${s.bitsPerWeight.toFixed(2)} bits/weight); ` +
                    `file ${mb(s.fileBytes)}; ${s.seconds.toFixed(1)} s`
            );

            console.log(`\n[2/3] inspect (every stream decoded, checksums checked)`);
            const r = await inspectModel(coded);
            const entq = r.tensors.filter((t) => t.entq);
            for (const t of entq.slice(0, 5))
                console.log(`      ${t.name.padEnd(26)} [${t.entq!.shape.join(", ")}]  ${t.entq!.bitsPerWeight.toFixed(3)} bits/w, entropy ${t.entq!.entropyBits?.toFixed(3)}`);
            console.log(`      ... ${entq.length} coded tensors, ${r.codedBitsPerWeight!.toFixed(3)} bits/weight; ${r.tensors.length - entq.length} others kept as they were`);

            console.log(`\n[3/3] generate on the patched llama.cpp (built once on first use: a few minutes)`);
            const llama = await getEntLlama({ logLevel: LlamaLogLevel.error });
            const t0 = performance.now();
            const model = await llama.loadModel({ modelPath: coded, gpuLayers: 0 });
            const loadS = (performance.now() - t0) / 1000;
            const context = await model.createContext({ contextSize: 512 });
            try {
                const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
                let first = 0;
                let tokens = 0;
                const write = tokenWriter(model, o.prompt);
                process.stdout.write(`\n${o.prompt}`);
                const t1 = performance.now();
                await completion.generateCompletion(o.prompt, {
                    maxTokens: o.maxTokens,
                    temperature: 0,
                    onToken: (t) => {
                        if (tokens === 0) first = performance.now();
                        tokens += t.length;
                        write(t);
                    }
                });
                const end = performance.now();
                const genRate = tokens > 1 ? ((tokens - 1) / ((end - first) / 1000)).toFixed(0) : "-";
                console.log(
                    `\n\nload ${loadS.toFixed(2)} s; prompt + first token ${((first - t1) / 1000).toFixed(2)} s; ` +
                        `${tokens} tokens at ${genRate} tokens/s (greedy, ${llama.cpuMathCores} CPU cores)`
                );
                console.log(`\nnext: \`entgguf chat ${coded}\`, \`entgguf inspect ${coded}\`, or convert your own GGUF with \`entgguf convert\``);
            } finally {
                await context.dispose();
                await model.dispose();
            }
        });
}
