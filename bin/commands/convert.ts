import { Command, InvalidArgumentError, Option } from "commander";

import { convertModel } from "../../src/convert/convertModel.js";
import { dequantizeModel } from "../../src/convert/dequantizeModel.js";
import { parseLambdaScale, type LambdaScale } from "../../src/convert/lambdaScaleFor.js";
import { writeUncodedModel } from "../../src/convert/writeUncodedModel.js";
import { TempOutput } from "../../src/gguf/TempOutput.js";
import { formatTable } from "../formatTable.js";

function number(what: string) {
    return (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n)) throw new InvalidArgumentError(`${what} must be a number`);
        return n;
    };
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Repeatable --lambda-scale <glob=factor>. */
export function collectLambdaScale(v: string, prev: LambdaScale[] = []): LambdaScale[] {
    try {
        return [...prev, parseLambdaScale(v)];
    } catch (e) {
        throw new InvalidArgumentError((e as Error).message);
    }
}

export function registerConvertCommand(program: Command): void {
    program
        .command("convert")
        .description("convert an F32/F16/BF16/Q8_0 GGUF or a Hugging Face folder (safetensors) into an entropy-coded GGUF (linear weights as ENTQ streams)")
        .argument("<in.gguf|hf-folder>", "source model: a GGUF file, or a folder with config.json, *.safetensors and tokenizer.model or tokenizer.json")
        .requiredOption("-o, --output <out.gguf>", "coded model to write (written to a temp file, renamed when complete)")
        .option("--bits <n>", "target bits per weight of the coded tensors, tables and scales included (default 3)", number("--bits"))
        .addOption(new Option("--rate-split <how>", "meet --bits with one lambda for the whole model (EntQuant's split of bits) or in every tensor").choices(["model", "tensor"]).default("model"))
        .option("--lambda <x>", "EntQuant's lambda instead of a target rate (3.9 ~ 4 bits, 14.5 ~ 3, 58 ~ 2 on LLaMA-2)", number("--lambda"))
        .addOption(new Option("--codes <kind>", "8-bit code kind").choices(["fp8", "int8"]).default("fp8"))
        .addOption(new Option("--objective <name>", "how row scales are chosen: EntQuant's L1 objective, entropy-constrained, or plain absmax").choices(["l1", "ecq", "absmax"]).default("l1"))
        .option("--include <glob>", "code tensors matching this pattern (repeatable; replaces the default blk.*.attn_*/ffn_* weights)", collect)
        .option("--exclude <glob>", "never code tensors matching this pattern (repeatable)", collect)
        .option("--no-output-head", "keep output.weight at source precision (coded by default)")
        .option("--no-embeddings", "keep token_embd.weight at source precision (coded by default)")
        .option("--lambda-scale <glob=factor>", "code tensors matching the glob at lambda x factor: < 1 gives them more bits, > 1 fewer; --bits still holds for the model (repeatable, first match wins; replaces the default 'token_embd.weight=0.25', 'output.weight=0.25')", collectLambdaScale)
        .option("--no-lambda-scale", "one lambda for every tensor (EntQuant's split of bits)")
        .option("--fallback-gap <x>", "absmax fallback when max|w| / 8th largest |w| >= x (0 disables; default 8)", number("--fallback-gap"))
        .option("--segment-symbols <n>", "symbols per stream segment: more segments, more parallel decoding, 132 bytes each", number("--segment-symbols"))
        .option("-t, --threads <n>", "threads (default: all cores)", number("--threads"))
        .option("--emit-dequantized <ref.gguf>", "also write the model with every coded weight as its exact dequantised F32 values")
        .option("--uncoded", "code nothing: write the source as a plain GGUF in its own types (a Hugging Face folder to GGUF only)")
        .option("--json", "print the summary as JSON")
        .action(async (input: string, o: Record<string, unknown>) => {
            const abort = new AbortController();
            // Stop at once, even inside a long native call: remove the temp files being written, then exit
            // (130/143: killed by SIGINT/SIGTERM). The abort stops library work should the exit be delayed.
            const stop = (signal: NodeJS.Signals) => {
                abort.abort(new Error(`interrupted by ${signal}: nothing was written`));
                TempOutput.removeAllSync();
                console.error(`entgguf: interrupted by ${signal}: the unfinished output was removed`);
                process.exit(signal === "SIGINT" ? 130 : 143);
            };
            process.once("SIGINT", stop).once("SIGTERM", stop);
            if (o.uncoded) {
                const coding = ["bits", "lambda", "lambdaScale", "include", "exclude", "fallbackGap", "segmentSymbols", "emitDequantized"].filter((k) => o[k] !== undefined);
                if (coding.length) throw new InvalidArgumentError(`--uncoded codes nothing: it takes no ${coding.map((k) => "--" + k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())).join(", ")}`);
                const u = await writeUncodedModel(input, o.output as string, { signal: abort.signal });
                process.off("SIGINT", stop).off("SIGTERM", stop);
                if (o.json) console.log(JSON.stringify(u, null, 2));
                else
                    console.log(`wrote ${u.output} (${(u.fileBytes / 1e6).toFixed(2)} MB, ${u.tensors} tensors, nothing coded) in ${u.seconds.toFixed(1)} s, peak memory ${(u.peakRssBytes / 1e6).toFixed(2)} MB`);
                return;
            }
            const s = await convertModel(input, o.output as string, {
                bits: o.bits as number | undefined,
                rateSplit: o.rateSplit as "model" | "tensor",
                lambda: o.lambda as number | undefined,
                codes: o.codes as "fp8" | "int8",
                objective: o.objective as "l1" | "ecq" | "absmax",
                include: o.include as string[] | undefined,
                exclude: o.exclude as string[] | undefined,
                outputHead: o.outputHead as boolean,
                embeddings: o.embeddings as boolean,
                lambdaScales: o.lambdaScale === false ? [] : (o.lambdaScale as LambdaScale[] | undefined),
                fallbackGap: o.fallbackGap as number | undefined,
                segmentSymbols: o.segmentSymbols as number | undefined,
                threads: o.threads as number | undefined,
                signal: abort.signal
            });
            if (o.emitDequantized) await dequantizeModel(s.output, o.emitDequantized as string, { signal: abort.signal });
            process.off("SIGINT", stop).off("SIGTERM", stop);
            if (o.json) {
                console.log(JSON.stringify(s, null, 2));
                return;
            }
            const rows = s.tensors.map((t) => [
                t.name,
                `${t.shape[0]}x${t.shape[1]}`,
                t.sourceType,
                String(t.sourceBytes),
                String(t.codedBytes),
                t.bitsPerWeight.toFixed(3),
                t.entropyBits.toFixed(3),
                t.lambda.toFixed(2),
                t.relL2.toExponential(2),
                t.fellBack ? "absmax" : ""
            ]);
            console.log(formatTable(["tensor", "K x N", "from", "bytes", "coded", "bits/w", "entropy", "lambda", "rel L2", "fallback"], rows));
            const mb = (b: number) => (b / 1e6).toFixed(2);
            console.log(
                `\n${s.tensors.length} tensors coded, ${s.keptTensors} kept: ${mb(s.sourceBytes)} MB -> ${mb(s.codedBytes)} MB, ` +
                    `${s.bitsPerWeight.toFixed(3)} bits/weight; fallbacks: ${s.fallbacks.length ? s.fallbacks.join(", ") : "none"}`
            );
            const rs = s.rateSearch;
            if (rs)
                console.log(
                    `one lambda for the model: ${rs.lambda.toFixed(2)} (predicted ${rs.predictedBits.toFixed(3)} bits/weight from ${rs.sampledRows} of ${rs.rows} rows, ` +
                        `${rs.evaluations} passes, ${rs.seconds.toFixed(1)} s)` +
                        rs.reaims.map((a) => `; re-aimed to ${a.lambda.toFixed(2)} after ${a.afterTensors} tensors (they ran ${a.biasBits >= 0 ? "+" : ""}${a.biasBits.toFixed(3)} bits/weight over)`).join("")
                );
            console.log(
                `wrote ${s.output} (${mb(s.fileBytes)} MB, ${s.fileBitsPerWeight.toFixed(3)} bits/weight over every tensor) in ${s.seconds.toFixed(1)} s, ${(s.weightsPerSecond / 1e6).toFixed(1)} M weights/s, ` +
                    `peak memory ${mb(s.peakRssBytes)} MB`
            );
            if (o.emitDequantized) console.log(`wrote the dequantised reference ${o.emitDequantized as string}`);
        });
}
