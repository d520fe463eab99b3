// The converter: a GGUF or a Hugging Face folder in (ModelSource), entropy-coded GGUF out. One tensor at a time:
// readWeights -> quantizeTensor -> encodeStream -> writeGguf (streaming to a
// temp file, renamed on success), so memory stays ~ one tensor whatever the
// model's size.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import type { GgufMetadata, GgufTensorSpec, GgufValue } from "../gguf/GgufFileInfo.js";
import { ENTQ_GGML_TYPE, ggmlTypes } from "../gguf/ggmlTypes.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import { writeGguf } from "../gguf/writeGguf.js";
import { CodeKind, getNativeBinding, packageRoot, QuantMethod } from "../native/binding.js";
import { quantizeTensor } from "../quant/quantizeTensor.js";
import { encodeStream } from "../stream/encodeStream.js";
import { ConvertError } from "./ConvertError.js";
import { ConvertProgress, type ProgressStream } from "./ConvertProgress.js";
import { ModelRateSplit, type RateSearchReport } from "./ModelRateSplit.js";
import { ENTQ_KEYS } from "./entqMetadata.js";
import { openModelSource, type SourceTensorInfo } from "./ModelSource.js";
import { READABLE_WEIGHT_TYPES, readWeights } from "./readWeights.js";
import { DEFAULT_LAMBDA_SCALES, lambdaScaleFor, type LambdaScale } from "./lambdaScaleFor.js";
import { codedShape, selectTensors, type TensorSelectionOptions } from "./selectTensors.js";

export interface ConvertOptions extends TensorSelectionOptions {
    /** target bits per weight of the coded tensors (tables and scales included); default 3 unless lambda is given */
    bits?: number;
    /**
     * How a --bits target is met (L1 objective): "model" (default) finds one lambda for
     * every tensor from samples of their rows, as EntQuant splits bits between tensors
     * (measured ~2% lower error at equal size on stories260K); "tensor" meets the
     * target in every tensor separately.
     */
    rateSplit?: "model" | "tensor";
    /** "model" split: share of each tensor's rows the lambda search samples (default 1/64, less above 2 B weights; at least 16 rows) */
    sampleFraction?: number;
    /** EntQuant's lambda, used for every tensor instead of a target rate */
    lambda?: number;
    /**
     * tensors coded at the model's lambda times a factor (first matching glob; L1 with the model split or a
     * lambda); default DEFAULT_LAMBDA_SCALES (embeddings and output head at a quarter); [] for one lambda for all
     */
    lambdaScales?: LambdaScale[];
    /** 8-bit code kind (default fp8) */
    codes?: "fp8" | "int8";
    /** how scales are chosen (default l1, EntQuant's objective) */
    objective?: "l1" | "ecq" | "absmax";
    /** the outlier rule's threshold (max|w| / 8th largest |w|); 0 disables the fallback */
    fallbackGap?: number;
    /** symbols per stream segment (parallelism vs 132 bytes per segment) */
    segmentSymbols?: number;
    /** 0/undefined: all cores */
    threads?: number;
    /** where the progress line goes (a terminal only); false for none */
    progress?: ProgressStream | false;
    signal?: AbortSignal;
}

export interface TensorReport {
    name: string;
    /** [K, N]: row length, rows (of a 3-D weight: all its experts' rows) */
    shape: [number, number];
    /** a 3-D weight's experts (0: a matrix) */
    experts: number;
    sourceType: string;
    sourceBytes: number;
    codedBytes: number;
    bitsPerWeight: number;
    entropyBits: number;
    lambda: number;
    fellBack: boolean;
    /** ||W - W_hat|| / ||W|| */
    relL2: number;
    segments: number;
}

export interface ConvertSummary {
    input: string;
    output: string;
    tensors: TensorReport[];
    /** tensors copied unchanged */
    keptTensors: number;
    /** source bytes of the coded tensors, and what they became */
    sourceBytes: number;
    codedBytes: number;
    codedElements: number;
    bitsPerWeight: number;
    fallbacks: string[];
    /** with a target rate split per model */
    rateSearch?: RateSearchReport;
    fileBytes: number;
    /** the whole file: its bytes x 8 / the elements of every tensor (coded, kept, embeddings, norms) */
    fileBitsPerWeight: number;
    seconds: number;
    weightsPerSecond: number;
    peakRssBytes: number;
}

function packageVersion(): string {
    return (JSON.parse(readFileSync(join(packageRoot(), "package.json"), "utf8")) as { version: string }).version;
}

function checkOptions(o: ConvertOptions): void {
    const bad = (what: string) => new ConvertError("OPTIONS", what);
    if (o.bits !== undefined && o.lambda !== undefined) throw bad("give either a target rate (bits) or lambda, not both");
    if (o.bits !== undefined && !(o.bits > 0 && o.bits <= 9)) throw bad(`bits must be in (0, 9], not ${o.bits}`);
    if (o.lambda !== undefined && !(o.lambda >= 0 && Number.isFinite(o.lambda))) throw bad(`lambda must be a finite number >= 0, not ${o.lambda}`);
    if (o.codes !== undefined && o.codes !== "fp8" && o.codes !== "int8") throw bad(`codes must be fp8 or int8, not ${String(o.codes)}`);
    if (o.objective !== undefined && !["l1", "ecq", "absmax"].includes(o.objective)) throw bad(`objective must be l1, ecq or absmax, not ${String(o.objective)}`);
    if (o.objective === "absmax" && o.bits !== undefined) throw bad("absmax has a fixed rate: it takes no bits target");
    if (o.rateSplit !== undefined && o.rateSplit !== "model" && o.rateSplit !== "tensor") throw bad(`rateSplit must be model or tensor, not ${String(o.rateSplit)}`);
    if (o.sampleFraction !== undefined && !(o.sampleFraction > 0 && o.sampleFraction <= 1)) throw bad(`sampleFraction must be in (0, 1], not ${o.sampleFraction}`);
    for (const s of o.lambdaScales ?? [])
        if (!s.pattern || !(s.scale > 0 && Number.isFinite(s.scale))) throw bad(`a lambda scale is a glob and a finite factor > 0, not ${JSON.stringify(s)}`);
    if (o.lambdaScales?.length && (o.rateSplit === "tensor" || (o.objective ?? "l1") !== "l1"))
        throw bad("lambda scales split bits between tensors by one lambda: they need the l1 objective and the model split (or --lambda)");
    if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 0)) throw bad(`threads must be an integer >= 0, not ${o.threads}`);
    if (o.segmentSymbols !== undefined && !(Number.isInteger(o.segmentSymbols) && o.segmentSymbols >= 1))
        throw bad(`segmentSymbols must be a positive integer, not ${o.segmentSymbols}`);
}

/**
 * Converts an F32/F16/BF16/Q8_0 GGUF, or a Hugging Face folder (safetensors), into an
 * entropy-coded GGUF: the chosen weights become ENTQ streams, everything else is
 * copied byte for byte (from a folder: as llama.cpp's converter would write it).
 */
export async function convertModel(input: string, output: string, options: ConvertOptions = {}): Promise<ConvertSummary> {
    checkOptions(options);
    const start = performance.now();
    const reader = await openModelSource(input);
    try {
        const { info } = reader;
        const coded = info.tensors.find((t) => t.type === ENTQ_GGML_TYPE);
        if (coded) throw new ConvertError("ALREADY_CODED", `${input}: already entropy-coded (tensor "${coded.name}" is an ENTQ stream)`);
        const choices = selectTensors(
            info.tensors.map((t) => ({ name: t.name, dims: [...t.dims], readable: READABLE_WEIGHT_TYPES.has(t.type) })),
            options
        );
        const unreadable = choices.find((c) => c.reason?.startsWith("tensor type"));
        if (unreadable) {
            const t = info.tensors.find((x) => x.name === unreadable.name)!;
            throw new ConvertError(
                "UNSUPPORTED_TYPE",
                `${input}: tensor "${t.name}" has type ${ggmlTypes.get(t.type)?.name ?? t.type}; the converter reads F32, F16, BF16 and Q8_0 ` +
                    `(convert from one of those, or leave it out with --exclude "${t.name}")`
            );
        }
        const toCode = new Set(choices.filter((c) => c.code).map((c) => c.name));
        if (toCode.size === 0) throw new ConvertError("NOTHING_TO_CODE", `${input}: no matrix or expert tensor matches the coding patterns (see --include)`);

        const codeKind = options.codes === "int8" ? CodeKind.INT8 : CodeKind.E4M3;
        const method = { l1: QuantMethod.L1, ecq: QuantMethod.Ecq, absmax: QuantMethod.Absmax }[options.objective ?? "l1"];
        const target = options.lambda === undefined && method !== QuantMethod.Absmax ? (options.bits ?? 3) : undefined;
        // the split of bits between tensors: one lambda scaled per tensor (L1 only; a per-tensor target has no lambda to scale)
        const scales = method === QuantMethod.L1 && (options.rateSplit ?? "model") === "model" ? (options.lambdaScales ?? DEFAULT_LAMBDA_SCALES) : [];
        const nCoded = toCode.size;
        const totalBytes = info.tensors.reduce((a, t) => a + t.byteSize, 0);
        const progressOut = options.progress === false ? undefined : (options.progress ?? process.stderr);

        // one f32 and one code buffer for every tensor: fresh memory costs more than the work on VMs
        const largest = Math.max(...info.tensors.filter((t) => toCode.has(t.name)).map((t) => { const c = codedShape(t.dims); return c.K * c.N; }));
        const weightsBuf = new Float32Array(largest);
        const codesBuf = new Uint8Array(largest);

        // one lambda for the whole model, from samples of every tensor's rows (src/convert/ModelRateSplit.ts)
        let split: ModelRateSplit | undefined;
        if (target !== undefined && method === QuantMethod.L1 && (options.rateSplit ?? "model") === "model") {
            const codedInfos = info.tensors.filter((t) => toCode.has(t.name));
            const pre = progressOut && new ConvertProgress(codedInfos.length, codedInfos.reduce((a, t) => a + t.byteSize, 0), progressOut);
            split = await ModelRateSplit.create(
                codedInfos,
                (t) => readWeights(reader, t, weightsBuf),
                target,
                {
                    codeKind,
                    sampleFraction: options.sampleFraction,
                    fallbackGap: options.fallbackGap,
                    threads: options.threads,
                    segmentSymbols: options.segmentSymbols,
                    lambdaScale: (t) => lambdaScaleFor(t.name, scales),
                    signal: options.signal
                },
                pre
            );
            pre?.finish();
        }
        const targetBits = split === undefined ? target : undefined;

        // every key the summary needs is declared now, with its final size, and filled in at the end
        const metadata = new Map<string, GgufValue>([...info.metadata].filter(([k]) => !k.startsWith("entq.")));
        const recorded = {
            codes: options.codes ?? "fp8",
            objective: options.objective ?? "l1",
            ...(target !== undefined ? { bits: target, rateSplit: split === undefined ? "tensor" : "model" } : { lambda: options.lambda ?? 0 }),
            include: options.include,
            exclude: options.exclude,
            outputHead: options.outputHead ?? true,
            embeddings: options.embeddings ?? true,
            lambdaScales: scales,
            fallbackGap: options.fallbackGap,
            segmentSymbols: options.segmentSymbols
        };
        metadata.set(ENTQ_KEYS.formatVersion, { type: GgufValueType.UINT32, value: getNativeBinding().formatVersion });
        metadata.set(ENTQ_KEYS.converter, { type: GgufValueType.STRING, value: `entgguf ${packageVersion()}` });
        metadata.set(ENTQ_KEYS.options, { type: GgufValueType.STRING, value: JSON.stringify(recorded) });
        metadata.set(ENTQ_KEYS.codeKind, { type: GgufValueType.STRING, value: codeKind === CodeKind.INT8 ? "int8" : "e4m3" });
        metadata.set(ENTQ_KEYS.codedTensors, { type: GgufValueType.UINT32, value: nCoded });
        metadata.set(ENTQ_KEYS.bitsPerWeight, { type: GgufValueType.FLOAT32, value: 0 });
        const lambdas = new Float32Array(nCoded);
        const fallbacks = new Uint8Array(nCoded);
        metadata.set(ENTQ_KEYS.lambdas, { type: GgufValueType.ARRAY, itemType: GgufValueType.FLOAT32, items: lambdas });
        metadata.set(ENTQ_KEYS.fallbacks, { type: GgufValueType.ARRAY, itemType: GgufValueType.UINT8, items: fallbacks });

        const specs: GgufTensorSpec[] = info.tensors.map((t) =>
            toCode.has(t.name) ? { name: t.name, type: ENTQ_GGML_TYPE } : { name: t.name, type: t.type, dims: t.dims }
        );
        const progress = progressOut && new ConvertProgress(info.tensors.length, totalBytes, progressOut);
        const reports: TensorReport[] = [];

        async function codeTensor(t: SourceTensorInfo): Promise<Uint8Array> {
            const { K, N, experts } = codedShape(t.dims);
            const weights = await readWeights(reader, t, weightsBuf);
            const q = await quantizeTensor(weights, {
                rows: N,
                cols: K,
                tensor: t.name,
                codeKind,
                method,
                lambda: split || options.lambda !== undefined ? (split?.lambda ?? options.lambda!) * lambdaScaleFor(t.name, scales) : undefined,
                targetBits,
                fallbackGap: options.fallbackGap,
                threads: options.threads,
                segmentSymbols: options.segmentSymbols,
                codesOut: codesBuf
            });
            const e = await encodeStream(q.codes, {
                K,
                N,
                tensor: t.name,
                codeKind,
                scaleBase: q.scaleBase,
                rowScales: q.rowScales,
                segmentSymbols: options.segmentSymbols,
                experts,
                threads: options.threads
            });
            await split?.coded(e.stream.length);
            lambdas[reports.length] = q.lambda;
            fallbacks[reports.length] = q.fellBack ? 1 : 0;
            reports.push({
                name: t.name,
                shape: [K, N],
                experts,
                sourceType: ggmlTypes.get(t.type)!.name,
                sourceBytes: t.byteSize,
                codedBytes: e.stream.length,
                bitsPerWeight: (e.stream.length * 8) / (K * N),
                entropyBits: e.entropyBits,
                lambda: q.lambda,
                fellBack: q.fellBack,
                relL2: q.error.relL2,
                segments: e.segments
            });
            return e.stream;
        }

        const written = await writeGguf(
            output,
            { version: info.version, metadata, tensors: specs },
            async (spec, i) => {
                const t = info.tensors[i]!;
                progress?.tensor(i, t.name);
                if (!toCode.has(t.name)) {
                    progress?.advance(t.byteSize);
                    return reader.readTensorChunks(t);
                }
                const stream = await codeTensor(t);
                progress?.advance(t.byteSize);
                return stream;
            },
            {
                signal: options.signal,
                finalizeMetadata: () => {
                    const codedBytes = reports.reduce((a, r) => a + r.codedBytes, 0);
                    const elements = reports.reduce((a, r) => a + r.shape[0] * r.shape[1], 0);
                    metadata.set(ENTQ_KEYS.bitsPerWeight, { type: GgufValueType.FLOAT32, value: (codedBytes * 8) / elements });
                    return metadata as GgufMetadata;
                }
            }
        );
        progress?.finish();

        const seconds = (performance.now() - start) / 1000;
        const codedBytes = reports.reduce((a, r) => a + r.codedBytes, 0);
        const codedElements = reports.reduce((a, r) => a + r.shape[0] * r.shape[1], 0);
        return {
            input,
            output,
            tensors: reports,
            keptTensors: info.tensors.length - reports.length,
            sourceBytes: reports.reduce((a, r) => a + r.sourceBytes, 0),
            codedBytes,
            codedElements,
            bitsPerWeight: (codedBytes * 8) / codedElements,
            fallbacks: reports.filter((r) => r.fellBack).map((r) => r.name),
            rateSearch: split?.report(),
            fileBytes: written.fileSize,
            fileBitsPerWeight: (written.fileSize * 8) / info.tensors.reduce((a, t) => a + t.dims.reduce((x, d) => x * d, 1), 0),
            seconds,
            weightsPerSecond: codedElements / seconds,
            peakRssBytes: process.resourceUsage().maxRSS * 1024
        };
    } finally {
        await reader.close();
    }
}
