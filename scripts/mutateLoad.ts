// Mutated coded GGUFs through the patched llama.cpp (issue 17, item 4), by hand (it takes minutes: see
// BENCHMARKS "Mutated files"): byte flips in coded streams (fixed header, row scales and tables, segment
// index, payload), in the GGUF's tensor infos, and truncations at tensors' boundaries. Each file must load with
// exactly the original's logits or be refused; a flip inside a coded stream must never load with other logits.
// One child process (scripts/loadMutants.mjs) loads them all; a crash names the file it was on. Prints the
// outcomes per kind and the slowest files. Usage: node dist/scripts/mutateLoad.js [--keep]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { convertModel } from "../src/convert/convertModel.js";
import { demoModelPath } from "../src/demo/demoModelPath.js";
import { ENTQ_GGML_TYPE } from "../src/gguf/ggmlTypes.js";
import { readGguf } from "../src/gguf/readGguf.js";
import { packageRoot } from "../src/native/binding.js";
import { getEntLlama } from "../src/runtime/getEntLlama.js";

/** SplitMix64 (as native/test/test.h): the same mutations on every run. */
function splitmix(seed: bigint) {
    let s = seed;
    const mask = (1n << 64n) - 1n;
    return () => {
        s = (s + 0x9e3779b97f4a7c15n) & mask;
        let z = s;
        z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
        z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
        return (Number((z ^ (z >> 31n)) >> 11n) + 0.5) / 2 ** 53;
    };
}

const dir = mkdtempSync(join(tmpdir(), "entgguf-mutants-"));
const original = join(dir, "original.gguf");
const mutants: { file: string; kind: string; inStream: boolean }[] = [];

await getEntLlama();
await convertModel(demoModelPath(), original, { bits: 3, segmentSymbols: 1024, progress: false });
const reader = await readGguf(original);
const { tensors, dataOffset } = reader.info;
await reader.close();
const bytes = readFileSync(original);
const coded = tensors.filter((t) => t.type === ENTQ_GGML_TYPE);
const uniform = splitmix(17n);
const pick = (n: number) => Math.floor(uniform() * n);
let n = 0;
const add = (kind: string, inStream: boolean, mutate: (b: Buffer) => Buffer) => {
    const file = join(dir, `m${n++}.gguf`);
    writeFileSync(file, mutate(Buffer.from(bytes)));
    mutants.push({ file, kind, inStream });
};
const flip = (at: number) => (b: Buffer) => ((b[at]! ^= 1 << pick(8)), b);
for (const t of coded.slice(0, 12)) {
    const o = t.fileOffset;
    add("stream: fixed header", true, flip(o + pick(36)));
    add("stream: scales, tables, index", true, flip(o + 36 + pick(Math.min(400, t.byteSize - 36))));
    add("stream: payload", true, flip(o + t.byteSize - 1 - pick(Math.min(2000, t.byteSize / 2))));
    add("stream: anywhere", true, flip(o + pick(t.byteSize)));
}
// the tensor infos: from the first tensor's name (u64 length, bytes) on, one record per tensor
// (metadata flips are left out: a flipped vocabulary entry trips llama.cpp's own GGML_ASSERT in llama-vocab.cpp,
// with or without coded tensors)
const first = tensors[0]!;
const nameLen = Buffer.alloc(8);
nameLen.writeBigUInt64LE(BigInt(Buffer.byteLength(first.name)));
const infoStart = bytes.indexOf(Buffer.concat([nameLen, Buffer.from(first.name)]));
const infoBytes = tensors.reduce((s, t) => s + 8 + Buffer.byteLength(t.name) + 4 + 8 * t.dims.length + 4 + 8, 0);
if (infoStart <= 0) throw new Error("tensor infos not found");
for (let k = 0; k < 40; k++) add("tensor infos", false, flip(infoStart + pick(infoBytes)));
for (const t of tensors.filter((_, i) => i % 4 === 0)) {
    add("truncated at a tensor's start", false, (b) => b.subarray(0, t.fileOffset));
    add("truncated inside a tensor", false, (b) => b.subarray(0, t.fileOffset + Math.max(1, pick(t.byteSize))));
}
add("truncated in the header", false, (b) => b.subarray(0, pick(dataOffset)));

const list = join(dir, "list.json");
writeFileSync(list, JSON.stringify(mutants.map((m) => m.file)));
const r = spawnSync(process.execPath, [join(packageRoot(), "scripts", "loadMutants.mjs"), original, list], { encoding: "utf8", maxBuffer: 1 << 26 });
const lines = r.stdout.trim().split("\n");
const results = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { i: number; outcome: string; ms: number });
const counts: Record<string, Record<string, number>> = {};
for (const res of results) {
    const m = mutants[res.i]!;
    (counts[m.kind] ??= {})[res.outcome] = (counts[m.kind]![res.outcome] ?? 0) + 1;
}
console.log(`${mutants.length} mutated files, ${results.length} loaded or refused; child exit ${r.status ?? r.signal}`);
if (r.status !== 0) {
    const last = [...lines].reverse().find((l) => l.startsWith("start "));
    const m = last ? mutants[Number(last.slice(6))] : undefined;
    console.log(`crashed on ${m ? `${m.kind}: ${m.file}` : "?"}\n${r.stderr.slice(-2000)}`);
}
for (const [kind, c] of Object.entries(counts)) console.log(`  ${kind.padEnd(32)} ${JSON.stringify(c)}`);
const wrong = results.filter((x) => mutants[x.i]!.inStream && x.outcome === "different");
console.log(`flips inside coded streams that loaded with other logits: ${wrong.length}`);
for (const x of [...results].sort((a, b) => b.ms - a.ms).slice(0, 3)) console.log(`  slow: ${x.ms} ms, ${mutants[x.i]!.kind}, ${mutants[x.i]!.file}`);
if (process.argv.includes("--keep")) console.log(`files kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
process.exitCode = r.status === 0 && wrong.length === 0 ? 0 : 1;
