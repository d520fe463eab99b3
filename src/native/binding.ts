// The native boundary, typed in one place: every function the addon exports.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { buildNativeAddon, builtAddonPath, prebuiltAddonPath } from "./buildNativeAddon.js";

/** How the 8-bit codes map to values (the stream's codebook). */
export enum CodeKind {
    E4M3 = 0,
    INT8 = 1,
    Custom = 2
}

export interface NativeEncodeOptions {
    codeKind: CodeKind;
    /** > 0; effective row scale = scaleBase * f16(rowScales[r]) */
    scaleBase: number;
    /** N f16 bit patterns */
    rowScales: Uint16Array;
    /** 256 f16 bit patterns, only for CodeKind.Custom */
    codebook?: Uint16Array;
    /** target symbols per segment (0/undefined: the format's default) */
    segmentSymbols?: number;
    /** 0/undefined: the encoder picks the smallest stream */
    probBits?: number;
    /** a 3-D weight: the N rows are this many experts' matrices (segments then stay inside an expert); 0/undefined: one matrix */
    experts?: number;
    /** 0/undefined: all cores */
    threads?: number;
}

export interface NativeEncodeResult {
    stream: Buffer;
    probBits: number;
    segments: number;
    headBytes: number;
    /** Shannon entropy of the codes, bits per code */
    entropyBits: number;
}

export interface NativeStreamInfo {
    version: number;
    codeKind: CodeKind;
    probBits: number;
    K: number;
    N: number;
    rowsPerSegment: number;
    segments: number;
    symbols: number;
    scaleBase: number;
    bytes: number;
    payloadBytes: number;
    /** 0: one matrix; E: the N rows are E experts' matrices of N / E rows (a 3-D weight) */
    experts: number;
    frequencies: { symbol: number; freq: number }[];
    /** with experts: each expert's own bytes (its segments, their index entries, its row scales; not the shared header and table) */
    expertBytes?: number[];
}

export interface NativeDecodeOptions {
    /** refuse a stream whose shape differs */
    K?: number;
    N?: number;
    threads?: number;
}

export interface NativeValidateOptions extends NativeDecodeOptions {
    /** also check the checksum and decode every segment (default true) */
    deep?: boolean;
}

export interface NativeValidateResult {
    ok: boolean;
    /** "ENTQ_OK" or "ENTQ_<PROBLEM>" */
    code: string;
    message: string;
    segment?: number;
    info?: NativeStreamInfo;
}

// ---- quant (native/addon/quant.cpp) ----

/** How row scales are chosen (native enum entq_method). */
export enum QuantMethod {
    /** scale = row max / grid max: plain 8-bit, no optimisation */
    Absmax = 0,
    /** EntQuant's objective: relative L1 error + lambda * c * mean|q| */
    L1 = 1,
    /** entropy-constrained: relative MSE + lambda * bits/weight under the tensor's code distribution */
    Ecq = 2
}

export interface NativeQuantizeOptions {
    codeKind?: CodeKind.E4M3 | CodeKind.INT8;
    method?: QuantMethod;
    lambda?: number;
    /** > 0: search lambda per tensor so the stream has this many bits per weight */
    targetBits?: number;
    ecqIters?: number;
    ecqInitLambda?: number;
    /** absmax fallback when max|w| / 8th largest |w| >= this; <= 0 disables */
    fallbackGap?: number;
    /** 0/undefined: all cores */
    threads?: number;
    segmentSymbols?: number;
    /** search every stored scale per row (slow; the reference) */
    exhaustive?: boolean;
}

export interface NativeErrorSums {
    relL1: number;
    relL2: number;
    absErr: number;
    absW: number;
    sqErr: number;
    sqW: number;
    meanAbsQ: number;
}

export interface NativeQuantizeResult {
    /** N x K codes, row-major (codesOut when given: then possibly longer) */
    codes: Uint8Array;
    /** N f16 bit patterns; effective scale = scaleBase * f16 */
    rowScales: Uint16Array;
    scaleBase: number;
    /** what ran ("absmax" after a fallback) */
    method: "absmax" | "l1" | "ecq";
    fellBack: boolean;
    outlierGap: number;
    lambda: number;
    objective: number;
    error: NativeErrorSums;
    estimatedBytes: number;
    bitsPerWeight: number;
    entropyBits: number;
    passes: number;
    samplePasses: number;
    sampleRows: number;
}

export interface NativeQuantBinding {
    /** with codesOut (at least N x K bytes) the codes are written there and result.codes is codesOut itself */
    quantize(weights: Float32Array, N: number, K: number, options: NativeQuantizeOptions, codesOut?: Uint8Array): Promise<NativeQuantizeResult>;
    quantObjective(
        weights: Float32Array,
        codes: Uint8Array,
        rowScales: Uint16Array,
        scaleBase: number,
        N: number,
        K: number,
        codeKind: CodeKind,
        lambda: number
    ): NativeErrorSums & { objective: number };
    roundCodes(values: Float32Array, codeKind: CodeKind): Uint8Array;
    /** statistics of the whole tensor and a copy of sampleRows evenly spaced rows, held natively (L1 options) */
    quantRateSample(
        weights: Float32Array,
        N: number,
        K: number,
        sampleRows: number,
        options: NativeQuantizeOptions & { lambdaScale?: number }
    ): Promise<{ handle: unknown; sampleRows: number; fellBack: boolean; outlierGap: number }>;
    /** the one lambda at which the sampled tensors together have targetBits bits/weight (predicted) */
    quantModelLambda(
        handles: unknown[],
        targetBits: number,
        options: { tolerance?: number; threads?: number; guess?: number; onEvaluation?: (lambda: number, bits: number) => void }
    ): Promise<{ lambda: number; bits: number; evaluations: number; withinTolerance: boolean; tensorBits: Float64Array }>;
}

export interface NativeBinding extends NativeQuantBinding {
    formatVersion: number;
    /** data[0, n) becomes the f32 values of a tensor of n elements (ggml type F32, F16, BF16 or Q8_0) whose stored bytes fill the end of data[0, n). */
    sourceToF32InPlace(type: number, data: Float32Array, n: number): number;
    encode(codes: Uint8Array, K: number, N: number, options: NativeEncodeOptions): Promise<NativeEncodeResult>;
    decode(stream: Uint8Array, options?: NativeDecodeOptions): Promise<{ codes: Buffer; info: NativeStreamInfo }>;
    dequantize(stream: Uint8Array, options?: NativeDecodeOptions): Promise<{ values: Float32Array; info: NativeStreamInfo }>;
    validate(stream: Uint8Array, options?: NativeValidateOptions): Promise<NativeValidateResult>;
    /** decodes (checksum first) and counts each code: the exact code entropy */
    histogram(stream: Uint8Array, options?: NativeDecodeOptions): Promise<{ counts: Float64Array; entropyBits: number; info: NativeStreamInfo }>;
    streamInfo(stream: Uint8Array): NativeStreamInfo;
    /** the fixed header's fields from a stream's first fixedHeaderBytes bytes */
    streamHeader(firstBytes: Uint8Array): Omit<NativeStreamInfo, "frequencies" | "bytes">;
    fixedHeaderBytes: number;
    /**
     * The CPU layout the patched ggml-cpu builds from this stream at load (native/cpu/entq_repack.h):
     * status "ok", or why the stream would stay as it is ("levels": no int8 grid, "larger": layout over
     * maxGrowth x the stream, "payload": a segment does not decode); with levels: true also the decoded
     * int8 levels (row-major; value = level x unit x f16 row scale) and whether both layout decoders agree.
     */
    cpuLayout(stream: Uint8Array, options?: { maxGrowth?: number; threads?: number; levels?: boolean }): Promise<NativeCpuLayout>;
}

export interface NativeCpuLayout {
    status: "ok" | "levels" | "larger" | "payload" | "too-large";
    streamBytes: number;
    layoutBytes?: number;
    segment?: number;
    pairCode?: boolean;
    codes?: number;
    rowsPerStream?: number;
    groups?: number;
    unit?: number;
    levels?: Int8Array;
    decodersAgree?: boolean;
}

let binding: NativeBinding | undefined;
let bindingPath: string | undefined;

/** The file the addon was loaded from, once getNativeBinding() has loaded it. */
export function nativeBindingPath(): string | undefined {
    return bindingPath;
}

/** The package root: the nearest folder above this file with our package.json (works from src/ and dist/). */
export function packageRoot(): string {
    let dir = dirname(fileURLToPath(import.meta.url));
    while (!existsSync(join(dir, "CMakeLists.txt")) || !existsSync(join(dir, "package.json"))) {
        const up = dirname(dir);
        if (up === dir) throw new Error("entgguf: cannot find the package root above " + fileURLToPath(import.meta.url));
        dir = up;
    }
    return dir;
}

/**
 * The addon, loaded once: a build from source in build/ (a checkout's, or an earlier first-use
 * build), else the prebuilt binary the package carries for this platform, else built from source
 * now (once, cached). A failure names what was tried and what to do.
 */
export function getNativeBinding(): NativeBinding {
    if (binding) return binding;
    const root = packageRoot();
    const require = createRequire(import.meta.url);
    const tried: string[] = [];
    for (const path of [builtAddonPath(root), prebuiltAddonPath(root)]) {
        if (!existsSync(path)) continue;
        try {
            binding = require(path) as NativeBinding;
            bindingPath = path;
            return binding;
        } catch (e) {
            tried.push(`${path}: ${(e as Error).message.split("\n")[0]}`);
        }
    }
    const why = tried.length ? `the addon here does not load (${tried.join("; ")})` : `no prebuilt addon for ${process.platform}-${process.arch} in this package`;
    try {
        process.stderr.write(`[entgguf] ${why}; building it from source once\n`);
        const path = buildNativeAddon(root);
        binding = require(path) as NativeBinding;
        bindingPath = path;
        return binding;
    } catch (e) {
        throw new Error(
            `Could not load the entgguf native addon: ${why}, and building it failed: ${(e as Error).message}\n` +
                "Possible solutions:\n" +
                "  - install cmake >= 3.18 and a C++17 compiler, then run `npx entgguf build --addon`\n" +
                "  - in a checkout of entgguf: `npm install` (it builds the addon)"
        );
    }
}
