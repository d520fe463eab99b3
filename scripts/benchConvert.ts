// Converter benchmark: a seeded synthetic Llama-shaped F16 model of ~1 B
// parameters (made once, cached in .cache/), converted at a target rate:
// weights/s, peak RSS against the model's size, bits/weight.
// Usage: npm run bench:convert [-- --bits 2.5 --threads 2]
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { makeSyntheticModel, SYNTHETIC_1B } from "../src/bench/makeSyntheticModel.js";
import { convertModel } from "../src/convert/convertModel.js";
import { packageRoot } from "../src/native/binding.js";

const { values } = parseArgs({ options: { bits: { type: "string", default: "2.5" }, threads: { type: "string" } } });
const cache = join(packageRoot(), ".cache", "bench");
mkdirSync(cache, { recursive: true });
const model = join(cache, "synthetic-1b-f16.gguf");
if (!existsSync(model)) {
    console.log(`making ${model} (seeded, ~2 GB, once)...`);
    const t = performance.now();
    const params = await makeSyntheticModel(model, SYNTHETIC_1B);
    console.log(`  ${(params / 1e9).toFixed(3)} B parameters in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const out = join(cache, "synthetic-1b-entq.gguf");
const s = await convertModel(model, out, {
    bits: Number(values.bits),
    threads: values.threads === undefined ? undefined : Number(values.threads)
});
const modelBytes = statSync(model).size;
console.log(`machine: ${cpus()[0]?.model ?? "?"}, ${availableParallelism()} cores; threads: ${values.threads ?? "all"}`);
console.log(`model: ${model} (${(modelBytes / 1e9).toFixed(2)} GB F16), ${s.tensors.length} coded tensors, ${(s.codedElements / 1e9).toFixed(3)} B weights`);
console.log(`converted in ${s.seconds.toFixed(1)} s: ${(s.weightsPerSecond / 1e6).toFixed(2)} M weights/s`);
console.log(`coded: ${s.bitsPerWeight.toFixed(3)} bits/weight (target ${values.bits}); file ${(s.fileBytes / 1e9).toFixed(3)} GB`);
console.log(`peak RSS: ${(s.peakRssBytes / 1e6).toFixed(0)} MB = ${((100 * s.peakRssBytes) / modelBytes).toFixed(1)}% of the model's size`);
console.log(`fallbacks: ${s.fallbacks.length ? s.fallbacks.join(", ") : "none"}`);
rmSync(out, { force: true });
