// A Hugging Face model folder (config.json, safetensors weights, tokenizer) as a
// ModelSource: the metadata and tensors that llama.cpp's convert_hf_to_gguf.py
// would write, read one tensor at a time. Everything that can be checked before
// reading weights is checked at open: a bad folder fails before any output exists.
import path from "node:path";

import type { GgufValue } from "../gguf/GgufFileInfo.js";
import { GgmlType } from "../gguf/ggmlTypes.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import type { ModelSource, SourceTensorInfo } from "../convert/ModelSource.js";
import { readWeights } from "../convert/readWeights.js";
import { ggufTensorName } from "./ggufTensorName.js";
import { HfInputError } from "./HfInputError.js";
import { hfModelMetadata, type HfShape } from "./hfModelMetadata.js";
import { hfTokenizerMetadata } from "./hfTokenizerMetadata.js";
import { permuteQkRows } from "./permuteQkRows.js";
import { readHfConfig } from "./readHfConfig.js";
import { readSafetensors, type CheckpointTensor } from "./readSafetensors.js";

/** The dtypes read, as the ggml types they are written in. */
const DTYPES: Readonly<Record<string, number>> = { F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16 };
/** general.file_type (llama_ftype) by the dtype of the 2-D weights: ALL_F32, MOSTLY_F16, MOSTLY_BF16. */
const FILE_TYPES: Readonly<Record<string, number>> = { F32: 0, F16: 1, BF16: 32 };
const ELEMENT_BYTES: Readonly<Record<number, number>> = { [GgmlType.F32]: 4, [GgmlType.F16]: 2, [GgmlType.BF16]: 2 };
const DEFAULT_CHUNK_BYTES = 16 << 20;

/** How one output tensor's bytes are made. */
type Plan =
    | { kind: "checkpoint"; raw: CheckpointTensor; rawType: number; toF32: boolean; permuteHeads?: number }
    | { kind: "generated"; bytes: Uint8Array };

/** Block tensors every layer must have (llama.cpp refuses the model otherwise). */
const REQUIRED_BLOCK = ["attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"];

/** Checks the shapes that the conversion relies on against config.json. */
function checkShape(name: string, dims: readonly number[], s: HfShape, file: string): void {
    const expect: Record<string, number[]> = {
        "token_embd.weight": [s.nEmbd, s.vocabSize ?? dims[1]!],
        "attn_q.weight": [s.nEmbd, s.nHead * s.headDim],
        "attn_k.weight": [s.nEmbd, s.nHeadKv * s.headDim],
        "attn_v.weight": [s.nEmbd, s.nHeadKv * s.headDim],
        "attn_q.bias": [s.nHead * s.headDim],
        "attn_k.bias": [s.nHeadKv * s.headDim]
    };
    const want = expect[name.replace(/^blk\.\d+\./, "")];
    if (want && (want.length !== dims.length || want.some((d, i) => d !== dims[i])))
        throw new HfInputError("BAD_TENSOR", file, `tensor ${name} has shape [${dims.join(", ")}] (GGUF order), but config.json implies [${want.join(", ")}]`);
}

/** Output order: embeddings, blocks by number, then the output norm and head (as llama.cpp's files list them). */
function sortKey(name: string): [number, number, string] {
    const m = /^blk\.(\d+)\.(.+)$/.exec(name);
    if (m) return [1, Number(m[1]), m[2]!];
    return [name.startsWith("output") ? 2 : 0, 0, name];
}

export async function openHfModel(folder: string): Promise<ModelSource> {
    const { file: configFile, config, arch } = await readHfConfig(folder);
    const hp = hfModelMetadata(config, arch, configFile, path.basename(path.resolve(folder)));
    const tokenizer = await hfTokenizerMetadata(folder, config, arch, hp.shape.vocabSize);
    const checkpoint = await readSafetensors(folder);
    try {
        const plans = new Map<SourceTensorInfo, Plan>();
        const dtypeCounts = new Map<string, number>();
        for (const raw of checkpoint.tensors.values()) {
            const name = ggufTensorName(raw.name, arch, hp.shape.nLayer);
            if (name === null) continue;
            if (name === undefined)
                throw new HfInputError("BAD_TENSOR", raw.source.file, `tensor "${raw.name}" has no GGUF name for ${arch.hf} with ${hp.shape.nLayer} layers (not a part of this architecture llama.cpp loads)`);
            const rawType = DTYPES[raw.dtype];
            if (rawType === undefined)
                throw new HfInputError("UNSUPPORTED_DTYPE", raw.source.file, `tensor "${raw.name}" is ${raw.dtype}; the converter reads F32, F16 and BF16`);
            const dims = [...raw.shape].reverse();
            checkShape(name, dims, hp.shape, raw.source.file);
            // 1-D tensors (norms, biases) are stored as F32, as llama.cpp's converter does
            const toF32 = dims.length === 1 && rawType !== GgmlType.F32;
            const type = toF32 ? GgmlType.F32 : rawType;
            const elements = dims.reduce((a, b) => a * b, 1);
            const qk = /\.attn_(q|k)\.(weight|bias)$/.exec(name);
            const permuteHeads = arch.permuteQK && qk ? (qk[1] === "q" ? hp.shape.nHead : hp.shape.nHeadKv) : undefined;
            plans.set({ name, type, dims, byteSize: elements * ELEMENT_BYTES[type]! }, { kind: "checkpoint", raw, rawType, toF32, permuteHeads });
            if (dims.length >= 2) dtypeCounts.set(raw.dtype, (dtypeCounts.get(raw.dtype) ?? 0) + elements);
        }
        if (hp.ropeFreqs)
            plans.set({ name: "rope_freqs.weight", type: GgmlType.F32, dims: [hp.ropeFreqs.length], byteSize: hp.ropeFreqs.byteLength }, {
                kind: "generated",
                bytes: new Uint8Array(hp.ropeFreqs.buffer)
            });
        const names = new Set([...plans.keys()].map((t) => t.name));
        const required = ["token_embd.weight", "output_norm.weight"];
        for (let i = 0; i < hp.shape.nLayer; i++) required.push(...REQUIRED_BLOCK.map((b) => `blk.${i}.${b}.weight`));
        const missing = required.find((n) => !names.has(n));
        if (missing) throw new HfInputError("BAD_TENSOR", folder, `the weights have no tensor for ${missing}, which ${arch.hf} with ${hp.shape.nLayer} layers needs`);

        const tensors = [...plans.keys()].sort((a, b) => {
            const [x, y] = [sortKey(a.name), sortKey(b.name)];
            return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
        });
        const mainDtype = [...dtypeCounts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "F32";
        const metadata = new Map<string, GgufValue>([
            ...hp.metadata,
            ["general.file_type", { type: GgufValueType.UINT32, value: FILE_TYPES[mainDtype]! }],
            ...tokenizer
        ]);

        /** The whole tensor as written: converted to F32 and/or its rows permuted. */
        async function wholeTensor(plan: Extract<Plan, { kind: "checkpoint" }>, info: SourceTensorInfo): Promise<Uint8Array> {
            const { raw } = plan;
            let bytes: Uint8Array;
            if (plan.toF32) {
                const rawInfo = { name: info.name, type: plan.rawType, dims: info.dims, byteSize: raw.byteSize };
                const w = await readWeights({ file: raw.source.file, readTensorChunks: (_t, n) => raw.source.chunks(raw, n) }, rawInfo);
                bytes = new Uint8Array(w.buffer, w.byteOffset, w.byteLength);
            } else bytes = await raw.source.read(raw);
            if (plan.permuteHeads === undefined) return bytes;
            const rows = info.dims.length === 1 ? info.dims[0]! : info.dims[1]!;
            if (rows % (2 * plan.permuteHeads) !== 0)
                throw new HfInputError("BAD_TENSOR", raw.source.file, `tensor "${raw.name}" has ${rows} rows, not a multiple of 2 x ${plan.permuteHeads} heads`);
            return permuteQkRows(bytes, plan.permuteHeads, bytes.length / rows, "toGguf");
        }

        return {
            file: folder,
            info: { version: 3, metadata, tensors },
            async *readTensorChunks(tensor: SourceTensorInfo, chunkBytes = DEFAULT_CHUNK_BYTES) {
                const plan = plans.get(tensor);
                if (!plan) throw new RangeError(`${folder}: no tensor "${tensor.name}" in this model`);
                if (plan.kind === "checkpoint" && !plan.toF32 && plan.permuteHeads === undefined) {
                    yield* plan.raw.source.chunks(plan.raw, chunkBytes);
                    return;
                }
                const bytes = plan.kind === "generated" ? plan.bytes : await wholeTensor(plan, tensor);
                const unit = ELEMENT_BYTES[tensor.type]!;
                const step = Math.max(unit, Math.floor(chunkBytes / unit) * unit);
                for (let at = 0; at < bytes.length; at += step) yield bytes.subarray(at, Math.min(at + step, bytes.length));
            },
            close: () => checkpoint.close()
        };
    } catch (e) {
        await checkpoint.close();
        throw e;
    }
}
