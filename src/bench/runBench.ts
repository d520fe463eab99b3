// `entgguf bench`: one source model -> entropy-coded versions (convertModel) and llama.cpp's own quant
// types (llama-quantize) -> file size, bits/weight of the weights the converter codes, perplexity and KL-divergence
// against the source's logits (llama-perplexity), speed (llama-bench, alternating rounds) -> results.json,
// results.md, plot.svg/png. Every step is cached in the output folder under a key of its inputs, so a
// re-run only does what is new or changed.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { basename, join, resolve } from "node:path";

import { convertModel } from "../convert/convertModel.js";
import { DEFAULT_LAMBDA_SCALES, type LambdaScale } from "../convert/lambdaScaleFor.js";
import { READABLE_WEIGHT_TYPES } from "../convert/readWeights.js";
import { selectTensors } from "../convert/selectTensors.js";
import { ggmlTypes } from "../gguf/ggmlTypes.js";
import { readGguf } from "../gguf/readGguf.js";
import { buildLlamaTools, type LlamaTools } from "../runtime/buildLlamaTools.js";
import { checkRpcServer } from "../runtime/checkRpcServer.js";
import { BenchError } from "./BenchError.js";
import type { BenchArtefact, BenchResults, BenchSettings, SpeedStats } from "./BenchResults.js";
import { bitsPerWeight, readWeightTensors } from "./bitsPerWeight.js";
import { formatResultsMarkdown } from "./formatResultsMarkdown.js";
import { parseLlamaBenchOutput } from "./parseLlamaBenchOutput.js";
import { parsePerplexityOutput } from "./parsePerplexityOutput.js";
import { parseQuantizeLog, type QuantizeFallback } from "./parseQuantizeLog.js";
import { plotResults } from "./plotResults.js";
import { quoteCommand, runTool } from "./runTool.js";

export interface RunBenchOptions {
    /** F32/F16/BF16 GGUF */
    source: string;
    /** plain text: the first half is evaluated, the second half calibrates importance matrices */
    text: string;
    /** where models, logs, cached measurements and results go */
    outDir: string;
    /** target bits/weight of the entropy-coded versions (default 2, 2.5, 3, 4) */
    bits?: number[];
    /** code kinds (default fp8) */
    codes?: ("fp8" | "int8")[];
    /** llama-quantize types (default Q8_0, Q4_K_M, Q3_K_M, Q2_K); IQ* and Q2_K_S get an importance matrix */
    peers?: string[];
    /** llama-perplexity's -c and --chunks (default 512, 20) */
    ctx?: number;
    chunks?: number;
    /** chunks of the calibration slice llama-imatrix reads (default: chunks) */
    imatrixChunks?: number;
    /** threads for every tool (default: all cores) */
    threads?: number;
    /** llama-bench: -p, -n and alternating rounds (default 128, 32, 3); false: no speed runs */
    speed?: { prompt?: number; gen?: number; rounds?: number } | false;
    /** build the tools when missing (default "auto") or fail ("never") */
    toolsBuild?: "auto" | "never";
    /** code the token embeddings and the output head of the coded versions (default true, as convert does) */
    embeddings?: boolean;
    outputHead?: boolean;
    /** convert's lambdaScales for the coded versions (default: convert's default; [] one lambda for all) */
    lambdaScales?: LambdaScale[];
    /** `entgguf rpc-server` endpoints ("host:port") that take every layer in llama-perplexity and llama-bench (--rpc, -ngl 999) */
    rpc?: string[];
    log?: (message: string) => void;
    signal?: AbortSignal;
}

const DEFAULT_BITS = [2, 2.5, 3, 4];
const DEFAULT_PEERS = ["Q8_0", "Q4_K_M", "Q3_K_M", "Q2_K"];

/** llama-quantize refuses these without an importance matrix, or they are built to use one. */
export function peerNeedsImatrix(type: string): boolean {
    return /^IQ/i.test(type) || /^Q2_K_S$/i.test(type);
}

function fileKey(path: string): { path: string; bytes: number; mtimeMs: number } {
    const s = statSync(path);
    return { path: resolve(path), bytes: s.size, mtimeMs: Math.round(s.mtimeMs) };
}

function writeJsonAtomic(path: string, value: unknown): void {
    writeFileSync(`${path}.tmp`, JSON.stringify(value, null, 2));
    renameSync(`${path}.tmp`, path);
}

export async function runBench(options: RunBenchOptions): Promise<BenchResults> {
    const log = options.log ?? ((m: string) => void process.stderr.write(`[entgguf bench] ${m}\n`));
    const { source, text, outDir, signal } = options;
    const bits = options.bits ?? DEFAULT_BITS;
    const codes = options.codes ?? ["fp8"];
    const embeddings = options.embeddings ?? true, outputHead = options.outputHead ?? true;
    const lambdaScales = options.lambdaScales;
    const uncodedFlags = [
        ...(embeddings ? [] : ["--no-embeddings"]),
        ...(outputHead ? [] : ["--no-output-head"]),
        ...(lambdaScales?.length === 0 ? ["--no-lambda-scale"] : (lambdaScales ?? []).flatMap((s) => ["--lambda-scale", `${s.pattern}=${s.scale}`]))
    ];
    const uncodedNote =
        (embeddings && outputHead ? "" : ` (${[...(embeddings ? [] : ["embeddings"]), ...(outputHead ? [] : ["output head"])].join(", ")} at source precision)`) +
        (lambdaScales === undefined ? "" : lambdaScales.length ? ` (lambda x ${lambdaScales.map((s) => `${s.scale} on ${s.pattern}`).join(", ")})` : " (one lambda)");
    const peers = options.peers ?? DEFAULT_PEERS;
    const threads = options.threads ?? availableParallelism();
    const settings: BenchSettings = {
        ctx: options.ctx ?? 512,
        chunks: options.chunks ?? 20,
        threads,
        speed: options.speed === false ? false : { prompt: options.speed?.prompt ?? 128, gen: options.speed?.gen ?? 32, rounds: options.speed?.rounds ?? 3 },
        imatrixChunks: options.imatrixChunks ?? options.chunks ?? 20,
        ...(options.rpc?.length ? { rpc: options.rpc } : {})
    };
    if (!existsSync(source)) throw new BenchError("INPUT", `source model ${source} does not exist`);
    if (!existsSync(text)) throw new BenchError("INPUT", `text file ${text} does not exist`);
    if (!bits.every((b) => b > 0 && b <= 9)) throw new BenchError("OPTIONS", `bits must be in (0, 9]: ${bits.join(", ")}`);
    if (new Set(peers.map((p) => p.toUpperCase())).size !== peers.length) throw new BenchError("OPTIONS", `a peer type is listed twice: ${peers.join(", ")}`);
    if (!(settings.ctx >= 8 && settings.chunks >= 1)) throw new BenchError("OPTIONS", `ctx must be >= 8 and chunks >= 1`);

    // the tensors the converter codes: the only ones bits/weight counts, in every model alike
    const reader = await readGguf(source);
    let codedNames: Set<string>;
    let sourceType: string;
    try {
        const choices = selectTensors(reader.info.tensors.map((t) => ({ name: t.name, dims: [...t.dims], readable: READABLE_WEIGHT_TYPES.has(t.type) })));
        codedNames = new Set(choices.filter((c) => c.code).map((c) => c.name));
        if (!codedNames.size) throw new BenchError("INPUT", `${source}: no weights the converter codes (blk.*.attn_*/ffn_*, output.weight, token_embd.weight) to compare`);
        const types = new Set(reader.info.tensors.filter((t) => codedNames.has(t.name)).map((t) => ggmlTypes.get(t.type)?.name ?? String(t.type)));
        const bad = [...types].filter((t) => !["f32", "f16", "bf16"].includes(t));
        if (bad.length) throw new BenchError("INPUT", `${source}: weights to code of type ${bad.join(", ")}; bench needs an F32/F16/BF16 source (peers are quantised from it)`);
        sourceType = [...types].join("/").toUpperCase();
    } finally {
        await reader.close();
    }

    const tools: LlamaTools = await buildLlamaTools({ build: options.toolsBuild ?? "auto", log });
    const rpc = options.rpc?.length ? options.rpc.join(",") : undefined;
    for (const endpoint of options.rpc ?? []) await checkRpcServer(endpoint); // a clear error, not an abort inside a tool
    const rpcArgs = rpc ? ["--rpc", rpc, "-ngl", "999"] : [];
    for (const d of ["models", "logs", "cache"]) mkdirSync(join(outDir, d), { recursive: true });
    const loadStart = loadavg();
    const commands: string[] = [];
    const sourceKey = fileKey(source);

    // text: first half evaluated, second half for importance matrices, so calibration never sees the test
    const fullText = readFileSync(text, "utf8");
    const half = Math.floor(fullText.length / 2);
    const evalText = join(outDir, "text-eval.txt");
    const calibText = join(outDir, "text-calibration.txt");
    const writeIfChanged = (p: string, s: string) => (existsSync(p) && readFileSync(p, "utf8") === s) || writeFileSync(p, s);
    writeIfChanged(evalText, fullText.slice(0, half));
    writeIfChanged(calibText, fullText.slice(half));
    const evalHash = createHash("sha256").update(fullText.slice(0, half)).digest("hex").slice(0, 16);

    const tool = async (name: keyof LlamaTools["tools"], args: string[], logName: string) => {
        commands.push(quoteCommand(basename(tools.tools[name]), args));
        return runTool(tools.tools[name], args, join(outDir, "logs", logName), { signal });
    };
    // the tools build drains llama.cpp's logger at exit (buildLlamaTools), so the report is complete
    const perplexity = async (args: string[], logName: string) => parsePerplexityOutput((await tool("llama-perplexity", args, logName)).output);
    /** Runs `make` unless cache/<name>.json holds a result for the same key and its output files all exist. */
    const cached = async <T>(name: string, key: unknown, title: string, make: () => Promise<T>, outputs: string[] = []): Promise<T> => {
        const file = join(outDir, "cache", `${name}.json`);
        const k = JSON.stringify(key);
        if (existsSync(file) && outputs.every((o) => existsSync(o))) {
            const c = JSON.parse(readFileSync(file, "utf8")) as { key: string; value: T; commands: string[] };
            if (c.key === k) {
                log(`${title}: cached`);
                commands.push(...c.commands);
                return c.value;
            }
        }
        log(`${title} ...`);
        const t0 = Date.now();
        const before = commands.length;
        const value = await make();
        writeJsonAtomic(file, { key: k, value, commands: commands.slice(before) });
        log(`${title}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return value;
    };

    const artefacts: BenchArtefact[] = [];
    const addArtefact = async (a: Omit<BenchArtefact, "fileBytes" | "linear" | "fileBitsPerWeight">) => {
        const tensors = await readWeightTensors(a.file);
        const fileBytes = statSync(a.file).size;
        const elements = tensors.reduce((n, t) => n + t.elements, 0);
        artefacts.push({ ...a, fileBytes, linear: bitsPerWeight(tensors, codedNames), fileBitsPerWeight: (fileBytes * 8) / elements });
    };
    await addArtefact({ label: "source", kind: "source", method: "source", setting: sourceType, file: resolve(source), calibration: false, fallbacks: [] });

    // entropy-coded versions
    const needImatrix = peers.some(peerNeedsImatrix);
    const nSteps = 2 * (codes.length * bits.length + peers.length) + 1 + (needImatrix ? 1 : 0) + (settings.speed ? 1 : 0);
    let step = 0;
    const stepTitle = (s: string) => `[${++step}/${nSteps}] ${s}`;
    for (const kind of codes)
        for (const b of bits) {
            const label = `entq-${kind}-${b}`;
            const file = join(outDir, "models", `${label}.gguf`);
            await cached(`convert-${label}`, { sourceKey, bits: b, codes: kind, embeddings, outputHead, lambdaScales: lambdaScales ?? DEFAULT_LAMBDA_SCALES }, stepTitle(`convert ${label} (${b} bits/weight, ${kind.toUpperCase()} codes)`), async () => {
                const s = await convertModel(source, file, { bits: b, codes: kind, embeddings, outputHead, lambdaScales, threads, progress: process.stderr, signal });
                commands.push(`entgguf convert ${quoteCommand(source, ["-o", file, "--bits", String(b), "--codes", kind, ...uncodedFlags])}`);
                return { bitsPerWeight: s.bitsPerWeight, seconds: s.seconds };
            }, [file]);
            await addArtefact({ label, kind: "entq", method: `entgguf ${kind.toUpperCase()}${uncodedNote}`, setting: `${b} bits/w target`, file, calibration: false, fallbacks: [] });
        }

    // llama.cpp's own types
    const imatrix = join(outDir, "imatrix.gguf");
    if (needImatrix)
        await cached("imatrix", { sourceKey, calib: createHash("sha256").update(fullText.slice(half)).digest("hex").slice(0, 16), ctx: settings.ctx, chunks: settings.imatrixChunks }, stepTitle("importance matrix (llama-imatrix on the calibration slice)"), async () => {
            await tool("llama-imatrix", ["-m", source, "-f", calibText, "-o", imatrix, "-c", String(settings.ctx), "--chunks", String(settings.imatrixChunks), "-t", String(threads)], "imatrix.log");
            return { file: imatrix };
        }, [imatrix]);
    for (const type of peers) {
        const label = type.toUpperCase();
        const file = join(outDir, "models", `${label}.gguf`);
        const calibration = peerNeedsImatrix(type);
        const q = await cached(`quantize-${label}`, { sourceKey, type: label, calibration, imatrix: calibration ? fileKey(imatrix) : null }, stepTitle(`llama-quantize ${label}${calibration ? " (importance matrix: calibration data)" : ""}`), async () => {
            const { output } = await tool("llama-quantize", [...(calibration ? ["--imatrix", imatrix] : []), source, file, label, String(threads)], `quantize-${label}.log`);
            const parsed = parseQuantizeLog(output);
            if (parsed.reportedFallbacks !== undefined && parsed.reportedFallbacks !== parsed.fallbacks.length)
                throw new BenchError("PARSE", `llama-quantize reported ${parsed.reportedFallbacks} fallbacks but ${parsed.fallbacks.length} fallback lines were read (logs/quantize-${label}.log)`);
            return { fallbacks: parsed.fallbacks };
        }, [file]);
        const fallbacks: QuantizeFallback[] = q.fallbacks.filter((f) => codedNames.has(f.tensor));
        await addArtefact({ label, kind: "peer", method: calibration ? "llama.cpp + imatrix" : "llama.cpp", setting: label, file, calibration, fallbacks });
    }

    // quality: the source's logits once, then every model against them
    const baseLogits = join(outDir, "source-logits.kld");
    const qualityArgs = ["-c", String(settings.ctx), "--chunks", String(settings.chunks), "-t", String(threads), ...rpcArgs];
    const base = await cached("perplexity-source", { sourceKey, evalHash, ctx: settings.ctx, chunks: settings.chunks, tools: tools.buildId, rpc }, stepTitle("llama-perplexity on the source (saves its logits)"), async () => {
        return perplexity(["-m", source, "-f", evalText, ...qualityArgs, "--kl-divergence-base", baseLogits], "perplexity-source.log");
    }, [baseLogits]);
    artefacts[0]!.perplexity = base;
    const baseKey = fileKey(baseLogits);
    for (const a of artefacts.slice(1)) {
        a.perplexity = await cached(`perplexity-${a.label}`, { model: fileKey(a.file), baseKey, ctx: settings.ctx, chunks: settings.chunks, tools: tools.buildId, rpc }, stepTitle(`llama-perplexity + KL-divergence: ${a.label}`), async () => {
            return perplexity(["-m", a.file, "--kl-divergence-base", baseLogits, "--kl-divergence", ...qualityArgs], `perplexity-${a.label}.log`);
        });
    }

    let speedRun: BenchResults["speedRun"];
    // speed: every model in each llama-bench run, the order reversed every other round so drift cancels
    if (settings.speed) {
        const sp = settings.speed;
        const speeds = await cached(
            "speed",
            { models: artefacts.map((a) => fileKey(a.file)), sp, threads, tools: tools.buildId, format: 2, rpc },
            stepTitle(`llama-bench: ${artefacts.length} models, ${sp.rounds} alternating rounds (pp${sp.prompt}, tg${sp.gen}, ${threads} threads)`),
            async () => {
                const started = Date.now();
                const loadBefore = loadavg();
                const samples = new Map<string, { pp: number[]; tg: number[] }>(artefacts.map((a) => [a.file, { pp: [], tg: [] }]));
                for (let r = 0; r < sp.rounds; r++) {
                    const order = r % 2 ? [...artefacts].reverse() : artefacts;
                    const args = [...order.flatMap((a) => ["-m", a.file]), "-p", String(sp.prompt), "-n", String(sp.gen), "-t", String(threads), "-r", "2", "-o", "jsonl", ...rpcArgs];
                    const { stdout } = await tool("llama-bench", args, `bench-round${r + 1}.log`);
                    for (const t of parseLlamaBenchOutput(stdout)) {
                        const s = samples.get(t.model);
                        if (!s) throw new BenchError("PARSE", `llama-bench reported a model it was not given: ${t.model}`);
                        s[t.kind].push(...t.samples);
                    }
                    log(`  round ${r + 1}/${sp.rounds} done`);
                }
                const stats = (x: number[]): SpeedStats => {
                    const mean = x.reduce((a, b) => a + b, 0) / x.length;
                    const sd = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, x.length - 1));
                    return { mean, stddev: sd, samples: x };
                };
                const perModel = artefacts.map((a) => {
                    const s = samples.get(a.file)!;
                    if (!s.pp.length || !s.tg.length) throw new BenchError("PARSE", `llama-bench gave no pp/tg result for ${a.file}`);
                    return { pp: stats(s.pp), tg: stats(s.tg) };
                });
                return { perModel, run: { date: new Date(started).toISOString(), loadAverageStart: loadBefore, loadAverageEnd: loadavg() } };
            }
        );
        artefacts.forEach((a, i) => (a.speed = speeds.perModel[i]));
        speedRun = speeds.run;
    }

    const results: BenchResults = {
        source: resolve(source),
        text: resolve(text),
        evalChars: half,
        calibrationChars: fullText.length - half,
        settings,
        speedRun,
        speedReference: settings.speed ? (artefacts.find((a) => a.label === "Q8_0") ?? artefacts[0]!).label : undefined,
        machine: {
            cpu: cpus()[0]?.model ?? "unknown",
            cores: cpus().length,
            loadAverageStart: loadStart,
            loadAverageEnd: loadavg(),
            date: new Date().toISOString(),
            node: process.version,
            toolsBuild: `llama.cpp ${tools.source.release} + entgguf patches, build ${tools.buildId}`
        },
        commands,
        artefacts
    };
    writeJsonAtomic(join(outDir, "results.json"), results);
    writeFileSync(join(outDir, "results.md"), formatResultsMarkdown(results));
    const plots = await plotResults(results, join(outDir, "plot"));
    log(`wrote ${join(outDir, "results.json")}, results.md, ${plots.map((p) => basename(p)).join(", ")}`);
    return results;
}
