// Seeds for the native fuzz harnesses from a real model (scripts/fuzz.sh runs it):
// converts stories260K (both code kinds) and writes every coded tensor's stream
// as a seed of the stream targets, slices of its F32 weights as seeds of the
// quantize target, and slices of its decoded codes as seeds of the encode target.
// Usage: node dist/scripts/fuzzSeeds.js <seedsDir> [model.gguf]
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

import { convertModel } from "../src/convert/convertModel.js";
import { demoModelPath } from "../src/demo/demoModelPath.js";
import { readWeights } from "../src/convert/readWeights.js";
import { ENTQ_GGML_TYPE } from "../src/gguf/ggmlTypes.js";
import { readGguf } from "../src/gguf/readGguf.js";
import { getNativeBinding } from "../src/native/binding.js";

// as native/fuzz/fuzz_check.h (FUZZ_MAX_SYMBOLS) and the harnesses' shape limits
const MAX_SYMBOLS = 1 << 14;
const STREAM_TARGETS = ["stream_parse", "reference_decode", "avx2_decode", "cpu_repack"];
const QUANT_ROWS = 8, QUANT_COLS = 40, ENCODE_ROWS = 48, ENCODE_COLS = 160;

const [seedsArg, modelArg] = process.argv.slice(2);
if (!seedsArg) throw new Error("usage: fuzzSeeds <seedsDir> [model.gguf]");
const seeds = resolve(seedsArg);
const model = resolve(modelArg ?? demoModelPath());
if (!existsSync(model)) {
    console.error(`fuzzSeeds: ${model} is absent: no real-model seeds`);
    process.exit(1);
}

let written = 0;
function put(target: string, name: string, bytes: Uint8Array): void {
    mkdirSync(join(seeds, target), { recursive: true });
    writeFileSync(join(seeds, target, name), bytes);
    written++;
}

const native = getNativeBinding();
for (const codes of ["fp8", "int8"] as const) {
    const coded = join(seeds, `..`, `stories260K-${codes}.entq.gguf`);
    if (!existsSync(coded)) await convertModel(model, coded, { codes, bits: 2.5, progress: false, threads: 1 });
    const reader = await readGguf(coded);
    try {
        for (const t of reader.info.tensors) {
            if (t.type !== ENTQ_GGML_TYPE) continue;
            const stream = await reader.readTensorData(t);
            const info = native.streamInfo(stream);
            if (info.K * info.N <= MAX_SYMBOLS) for (const target of STREAM_TARGETS) put(target, `stories-${codes}-${t.name}`, stream);
            // encode: [kind][prob_bits][segment symbols u16][N-1][K-1][scale_base f32][N f16 scales][codes]
            const { codes: all } = await native.decode(stream);
            const N = Math.min(info.N, ENCODE_ROWS), K = Math.min(info.K, ENCODE_COLS);
            const input = Buffer.alloc(10 + 2 * N + K * N);
            input.writeUInt8(info.codeKind, 0);
            input.writeUInt8(0, 1);
            input.writeUInt16LE(0, 2);
            input.writeUInt8(N - 1, 4);
            input.writeUInt8(K - 1, 5);
            input.writeFloatLE(info.scaleBase, 6);
            stream.copy(input, 10, native.fixedHeaderBytes, native.fixedHeaderBytes + 2 * N); // E4M3/INT8: the scales follow the header
            for (let r = 0; r < N; r++) all.copy(input, 10 + 2 * N + r * K, r * info.K, r * info.K + K);
            put("encode", `stories-${codes}-${t.name}`, input);
        }
    } finally {
        await reader.close();
    }
}

// quantize: [flags][N-1][K-1][lambda][target][segment symbols][f32 weights], one slice per 2-D weight
const source = await readGguf(model);
try {
    let i = 0;
    for (const t of source.info.tensors) {
        if (t.dims.length !== 2) continue;
        const w = await readWeights(source, t);
        const [cols, rows] = [t.dims[0]!, t.dims[1]!];
        const N = Math.min(rows, QUANT_ROWS), K = Math.min(cols, QUANT_COLS);
        const input = Buffer.alloc(6 + 4 * N * K);
        // flags cycle through code kinds, methods and targets; lambda 2^(14-16) .. ; target ~2.5 bits
        input.set([i % 64, N - 1, K - 1, 14 + (i % 8), 72, 0]);
        for (let r = 0; r < N; r++) for (let k = 0; k < K; k++) input.writeFloatLE(w[r * cols + k]!, 6 + 4 * (r * K + k));
        put("quantize", `stories-${t.name}`, input);
        i++;
    }
} finally {
    await source.close();
}
console.log(`fuzzSeeds: ${written} seed files from ${model} in ${seeds}`);
