// Quantiser on a real model: stories260K's 35 linear weights (attention q/k/v/o,
// FFN gate/up/down), for E4M3 and INT8 and a sweep of lambda:
//  - L1 (EntQuant's objective) at each lambda,
//  - ECQ at equal size: each tensor's target is the bits/weight its L1 stream took,
// and a target rate met per model (one lambda, findModelLambda) against per
// tensor (targetBits on each), with bits/weight measured by really encoding
// every tensor (header, scales,
// table included), the code entropy, and the relative L2 / L1 error over the model.
// Usage: npm run bench:quant:stories [-- --model models/stories260K.gguf]
import { open } from "node:fs/promises";
import { parseArgs } from "node:util";

import { readGgufFileInfo } from "node-llama-cpp";

import { CodeKind, QuantMethod } from "../src/native/binding.js";
import { demoModelPath } from "../src/demo/demoModelPath.js";
import { findModelLambda } from "../src/quant/findModelLambda.js";
import { quantizeTensor, type QuantizedTensor } from "../src/quant/quantizeTensor.js";
import { sampleTensorRate } from "../src/quant/sampleTensorRate.js";
import { encodeStream } from "../src/stream/encodeStream.js";

const { values } = parseArgs({
    options: {
        model: { type: "string", default: demoModelPath() },
        lambdas: { type: "string", default: "1,3.9,14.5,58,232" }
    }
});
const lambdas = values.lambdas!.split(",").map(Number);

const GGML_F32 = 0;
const info = await readGgufFileInfo(values.model!, { readTensorInfo: true });
const linear = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;
const file = await open(values.model!, "r");
const tensors: { name: string; rows: number; cols: number; w: Float32Array }[] = [];
for (const t of info.tensorInfo ?? []) {
    if (!linear.test(t.name)) continue;
    if (t.ggmlType !== GGML_F32) throw new Error(`${t.name}: expected F32 weights, found ggml type ${t.ggmlType}`);
    const [cols, rows] = t.dimensions.map(Number) as [number, number]; // ggml: ne0 = row length
    const buf = Buffer.alloc(rows * cols * 4);
    await file.read(buf, 0, buf.length, Number(t.fileOffset));
    tensors.push({ name: t.name, rows, cols, w: new Float32Array(buf.buffer, buf.byteOffset, rows * cols) });
}
await file.close();
const nWeights = tensors.reduce((s, t) => s + t.rows * t.cols, 0);
console.log(`${values.model}: ${tensors.length} linear weights, ${nWeights} weights`);

interface Sum { bytes: number; entropyBits: number; sqErr: number; sqW: number; absErr: number; absW: number; fellBack: string[] }
async function measure(q: QuantizedTensor, name: string, s: Sum): Promise<number> {
    const { stream } = await encodeStream(q.codes, { K: q.cols, N: q.rows, codeKind: q.codeKind, scaleBase: q.scaleBase, rowScales: q.rowScales, tensor: name });
    const n = q.rows * q.cols;
    s.bytes += stream.length;
    s.entropyBits += q.entropyBits * n;
    s.sqErr += q.error.sqErr;
    s.sqW += q.error.sqW;
    s.absErr += q.error.absErr;
    s.absW += q.error.absW;
    if (q.fellBack) s.fellBack.push(`${name} (gap ${q.outlierGap.toFixed(1)})`);
    return (stream.length * 8) / n;
}
const empty = (): Sum => ({ bytes: 0, entropyBits: 0, sqErr: 0, sqW: 0, absErr: 0, absW: 0, fellBack: [] });
const row = (s: Sum) =>
    `${((s.bytes * 8) / nWeights).toFixed(3)} | ${(s.entropyBits / nWeights).toFixed(3)} | ${Math.sqrt(s.sqErr / s.sqW).toFixed(4)} | ${(s.absErr / s.absW).toFixed(4)}`;

const gaps = (await Promise.all(tensors.map((t) => quantizeTensor(t.w, { rows: t.rows, cols: t.cols, method: QuantMethod.Absmax })))).map((q) => q.outlierGap);
console.log(`outlier gap max|w| / 8th largest |w|: min ${Math.min(...gaps).toFixed(2)}, max ${Math.max(...gaps).toFixed(2)} (fallback at >= 8)`);

console.log("\n| codes | lambda | L1 bits/weight | L1 entropy | L1 rel. L2 | L1 rel. L1 | ECQ bits/weight | ECQ entropy | ECQ rel. L2 | ECQ rel. L1 | ECQ/L1 rel. L2 |");
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
const fallbacks = new Set<string>();
for (const codeKind of [CodeKind.E4M3, CodeKind.INT8] as const) {
    for (const lambda of lambdas) {
        const l1 = empty();
        const ecq = empty();
        for (const t of tensors) {
            const q = await quantizeTensor(t.w, { rows: t.rows, cols: t.cols, codeKind, lambda, tensor: t.name });
            const bits = await measure(q, t.name, l1);
            const e = await quantizeTensor(t.w, { rows: t.rows, cols: t.cols, codeKind, method: QuantMethod.Ecq, targetBits: bits, tensor: t.name });
            await measure(e, t.name, ecq);
        }
        l1.fellBack.forEach((f) => fallbacks.add(f));
        const ratio = Math.sqrt(ecq.sqErr / ecq.sqW) / Math.sqrt(l1.sqErr / l1.sqW);
        console.log(`| ${CodeKind[codeKind]} | ${lambda} | ${row(l1)} | ${row(ecq)} | ${ratio.toFixed(3)} |`);
    }
}
console.log(`\nabsmax 8-bit fallbacks: ${fallbacks.size ? [...fallbacks].join(", ") : "none"}`);

console.log("\n| codes | target | per model: lambda | bits/weight | rel. L2 | rel. L1 | per tensor: bits/weight | rel. L2 | rel. L1 |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const codeKind of [CodeKind.E4M3, CodeKind.INT8] as const) {
    const samples = await Promise.all(tensors.map((t) => sampleTensorRate(t.w, { rows: t.rows, cols: t.cols, codeKind, tensor: t.name })));
    for (const targetBits of [2.5, 3, 3.5]) {
        const { lambda } = await findModelLambda(samples, targetBits);
        const model = empty();
        const each = empty();
        for (const t of tensors) {
            await measure(await quantizeTensor(t.w, { rows: t.rows, cols: t.cols, codeKind, lambda, tensor: t.name }), t.name, model);
            await measure(await quantizeTensor(t.w, { rows: t.rows, cols: t.cols, codeKind, targetBits, tensor: t.name }), t.name, each);
        }
        const cols = (s: Sum) => `${((s.bytes * 8) / nWeights).toFixed(3)} | ${Math.sqrt(s.sqErr / s.sqW).toFixed(4)} | ${(s.absErr / s.absW).toFixed(4)}`;
        console.log(`| ${CodeKind[codeKind]} | ${targetBits} | ${lambda.toFixed(2)} | ${cols(model)} | ${cols(each)} |`);
    }
}
