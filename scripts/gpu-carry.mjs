// Prepares, on a machine with Node, what `scripts/gpu-check.sh --llama` needs on the device machine
// (CUDA, CMake, no Node, no network), under .cache/gpu-carry/ (gitignored; name it in the device
// tool's `carry`, 64 MiB in all with the working tree):
//   src/llama.cpp.tar.gz      the patched llama.cpp source (no .git, models, docs or other GPU backends)
//   models/entq-<b>.gguf      a coded synthetic Llama: 3 layers of the 1 B shape (dim 2048, FFN 5632,
//                             GQA 32/4), vocab 512, FP8 codes at <b> bits/weight, one row per segment
//                             (the GPU kernels' layout: a warp per segment)
// The device makes the F16, Q4_K_M and Q8_0 peers of that model itself (entq_dequantize_gguf +
// llama-quantize). Usage: npm run build && node scripts/gpu-carry.mjs [--bits 2.5]
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";

import { convertModel, makeSyntheticModel } from "../dist/src/index.js";
import { resolveEntLlamaBuild } from "../dist/src/runtime/buildLlama.js";

const root = join(import.meta.dirname, "..");
const bitsArg = process.argv.indexOf("--bits");
const bits = bitsArg > 0 ? Number(process.argv[bitsArg + 1]) : 2.5;
if (!(bits > 1 && bits <= 8)) throw new Error(`--bits: expected a number in (1, 8], got ${process.argv[bitsArg + 1]}`);
const out = join(root, ".cache", "gpu-carry");
mkdirSync(join(out, "src"), { recursive: true });
mkdirSync(join(out, "models"), { recursive: true });

const source = (await resolveEntLlamaBuild({ gpu: "cuda" })).source.dir;
const prune = ["./.git", "./models", "./docs", "./media", "./benches", "./gguf-py",
    ...["vulkan", "sycl", "opencl", "cann", "metal", "webgpu", "hexagon", "zdnn", "musa", "hip"].map((b) => `./ggml/src/ggml-${b}`)];
const tarball = join(out, "src", "llama.cpp.tar.gz");
execFileSync("tar", ["czf", `${tarball}.tmp`, ...prune.map((p) => `--exclude=${p}`), "-C", source, "."]);
renameSync(`${tarball}.tmp`, tarball);
console.log(`${tarball}: ${(statSync(tarball).size / 1e6).toFixed(1)} MB (patched llama.cpp from ${source})`);

const f16 = join(root, ".cache", "bench", "synthetic-3x2048-f16.gguf");
mkdirSync(join(root, ".cache", "bench"), { recursive: true });
await makeSyntheticModel(f16, { layers: 3, dim: 2048, ffn: 5632, heads: 32, kvHeads: 4, vocab: 512, type: "f16", seed: 1 });
rmSync(join(out, "models"), { recursive: true, force: true });
mkdirSync(join(out, "models"));
const coded = join(out, "models", `entq-${bits}.gguf`);
const s = await convertModel(f16, coded, { bits, segmentSymbols: 1, progress: false });
console.log(`${coded}: ${(statSync(coded).size / 1e6).toFixed(1)} MB, ${s.bitsPerWeight.toFixed(3)} bits/weight in its coded tensors`);
