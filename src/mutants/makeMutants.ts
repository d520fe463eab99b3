// Seeded mutations of a coded GGUF, for the mutated-file pass (issue 17, item 4): bit flips in coded streams
// (fixed header; scales, table and index; payload), in the tensor infos and in the vocabulary, and truncations at
// the file's structure boundaries (header fields, every metadata entry, every tensor info, the data section, every
// tensor, and inside each coded stream every section and segment). Two fixed mutants reproduce what the first pass
// found: a tensor's dimension count 1 -> 0 (minutes in node-llama-cpp's reader) and a duplicated vocabulary entry
// (an assert that aborted llama.cpp).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { SeededRandom } from "../bench/SeededRandom.js";
import { encodeGgufHeader } from "../gguf/encodeGgufHeader.js";
import type { GgufFileInfo, GgufTensorInfo } from "../gguf/GgufFileInfo.js";
import { ENTQ_GGML_TYPE } from "../gguf/ggmlTypes.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import { readGguf } from "../gguf/readGguf.js";

export const MUTANT_KINDS = [
    "stream: fixed header",
    "stream: scales, table, index",
    "stream: payload",
    "tensor infos",
    "vocabulary",
    "truncated at a boundary"
] as const;
export type MutantKind = (typeof MUTANT_KINDS)[number];

export interface Mutant {
    file: string;
    kind: MutantKind;
    /** what was changed, e.g. "bit 3 of byte 9120 (blk.0.attn_q.weight's payload)" */
    what: string;
    /** damage inside a coded stream: such a file must never load with other logits */
    inStream: boolean;
}

export interface MakeMutantsOptions {
    seed?: number;
    /** bit flips per flip kind (default 12) */
    flips?: number;
    /** truncation points: "all" boundaries (default) or a seeded sample of this many */
    truncations?: number | "all";
}

/** A byte range of the original file, named for the report. */
type Region = { start: number; end: number; name: string };

const ENTQ_FIXED_HEADER_BYTES = 36;
const VOCAB_KEYS = ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type"];

/** Where the header's parts lie: the encoder writes exactly the bytes the file holds (our converter wrote it). */
function headerLayout(info: GgufFileInfo) {
    const version = info.version as 2 | 3;
    const encoded = (kvs: number, tensors: readonly GgufTensorInfo[]) =>
        encodeGgufHeader(version, new Map([...info.metadata].slice(0, kvs)), tensors).length;
    const noTensors = (kvs: number) => encoded(kvs, []);
    const kvEnds = [...info.metadata.keys()].map((_, i) => noTensors(i + 1));
    const metadataEnd = noTensors(info.metadata.size);
    const tensorInfoEnds = info.tensors.map((_, i) => encoded(info.metadata.size, info.tensors.slice(0, i + 1)));
    // value bytes of the vocabulary entries (after key, type, and the array's item type and count)
    const vocab: Region[] = [];
    const keys = [...info.metadata.keys()];
    for (const key of VOCAB_KEYS) {
        const i = keys.indexOf(key);
        if (i < 0) continue;
        const start = (i === 0 ? 24 : kvEnds[i - 1]!) + 8 + Buffer.byteLength(key) + 4 + 12;
        vocab.push({ start, end: kvEnds[i]!, name: key });
    }
    return { kvEnds, metadataEnd, tensorInfoEnds, vocab };
}

/** A coded stream's sections and segment starts, from its own header (native/stream/entq_format.h). */
function streamLayout(bytes: Buffer, t: GgufTensorInfo) {
    const o = t.fileOffset;
    const N = bytes.readUInt32LE(o + 12);
    const rowsPerSeg = bytes.readUInt32LE(o + 16);
    const nSym = bytes.readUInt16LE(o + 24);
    const payloadBytes = bytes.readUInt32LE(o + 28);
    const nSeg = Math.ceil(N / rowsPerSeg);
    const codebookEnd = o + ENTQ_FIXED_HEADER_BYTES + (bytes[o + 6] === 2 ? 512 : 0);
    const scalesEnd = codebookEnd + 2 * N;
    const payload = o + t.byteSize - payloadBytes;
    const index = payload - 4 * nSeg;
    const segments = [payload];
    for (let s = 0; s + 1 < nSeg; s++) segments.push(payload + bytes.readUInt32LE(index + 4 * s));
    return { codebookEnd, scalesEnd, symbolsEnd: scalesEnd + (nSym <= 32 ? nSym : 32), index, payload, segments };
}

/** Two tokens of equal length that differ: writing one over the other duplicates a vocabulary entry in place. */
function duplicateTokenEdit(info: GgufFileInfo, vocab: Region | undefined): { at: number; text: Buffer; what: string } | undefined {
    const tokens = info.metadata.get("tokenizer.ggml.tokens");
    if (!vocab || tokens?.type !== GgufValueType.ARRAY || tokens.itemType !== GgufValueType.STRING) return undefined;
    const items = tokens.items;
    let at = vocab.start;
    const seen = new Map<number, number>();
    const starts: number[] = [];
    for (const s of items) {
        starts.push(at + 8);
        at += 8 + Buffer.byteLength(s);
    }
    for (let i = 0; i < items.length; i++) {
        const len = Buffer.byteLength(items[i]!);
        const j = seen.get(len);
        if (j !== undefined && items[j] !== items[i])
            return { at: starts[i]!, text: Buffer.from(items[j]!), what: `token #${i} "${items[i]}" overwritten with token #${j} "${items[j]}"` };
        if (j === undefined) seen.set(len, i);
    }
    return undefined;
}

/** Writes the mutants of `original` into `dir` (one file each) and lists them. */
export async function makeMutants(original: string, dir: string, options: MakeMutantsOptions = {}): Promise<Mutant[]> {
    const { seed = 17, flips = 12, truncations = "all" } = options;
    const reader = await readGguf(original);
    const info = reader.info;
    await reader.close();
    const bytes = readFileSync(original);
    const rng = new SeededRandom(seed);
    const layout = headerLayout(info);
    const coded = info.tensors.filter((t) => t.type === ENTQ_GGML_TYPE);
    if (coded.length === 0) throw new Error(`${original} holds no coded tensors`);
    const streams = coded.map((t) => ({ t, ...streamLayout(bytes, t) }));

    const mutants: Mutant[] = [];
    const add = (kind: MutantKind, what: string, inStream: boolean, mutate: (b: Buffer) => Buffer) => {
        const file = join(dir, `m${mutants.length}.gguf`);
        writeFileSync(file, mutate(Buffer.from(bytes)));
        mutants.push({ file, kind, what, inStream });
    };
    const flipIn = (kind: MutantKind, inStream: boolean, regions: Region[]) => {
        const total = regions.reduce((s, r) => s + r.end - r.start, 0);
        for (let k = 0; k < flips; k++) {
            let x = rng.below(total);
            const r = regions.find((r) => (x < r.end - r.start ? true : ((x -= r.end - r.start), false)))!;
            const at = r.start + x;
            const bit = rng.below(8);
            add(kind, `bit ${bit} of byte ${at} (${r.name})`, inStream, (b) => ((b[at]! ^= 1 << bit), b));
        }
    };
    flipIn("stream: fixed header", true, streams.map((s) => ({ start: s.t.fileOffset, end: s.t.fileOffset + ENTQ_FIXED_HEADER_BYTES, name: `${s.t.name}'s fixed header` })));
    flipIn("stream: scales, table, index", true, streams.map((s) => ({ start: s.t.fileOffset + ENTQ_FIXED_HEADER_BYTES, end: s.payload, name: `${s.t.name}'s scales, table, index` })));
    flipIn("stream: payload", true, streams.map((s) => ({ start: s.payload, end: s.t.fileOffset + s.t.byteSize, name: `${s.t.name}'s payload` })));
    flipIn("tensor infos", false, [{ start: layout.metadataEnd, end: layout.tensorInfoEnds.at(-1)!, name: "tensor infos" }]);
    flipIn("vocabulary", false, layout.vocab);

    // node-llama-cpp's reader spent 461 s on this one (BENCHMARKS, "Mutated files")
    const i1 = coded.findIndex((t) => t.name.endsWith("ffn_down.weight"));
    if (i1 >= 0) {
        const index = info.tensors.indexOf(coded[i1]!);
        const nDimsAt = (index === 0 ? layout.metadataEnd : layout.tensorInfoEnds[index - 1]!) + 8 + Buffer.byteLength(coded[i1]!.name);
        add("tensor infos", `dimension count of ${coded[i1]!.name} 1 -> 0 (byte ${nDimsAt})`, false, (b) => (b.writeUInt32LE(0, nDimsAt), b));
    }
    const dup = duplicateTokenEdit(info, layout.vocab[0]);
    if (dup) add("vocabulary", dup.what, false, (b) => (dup.text.copy(b, dup.at), b));

    const cuts = new Map<number, string>([
        [4, "after the magic"],
        [8, "after the version"],
        [16, "after the tensor count"],
        [24, "after the metadata count"]
    ]);
    [...info.metadata.keys()].forEach((k, i) => cuts.set(layout.kvEnds[i]!, `after metadata "${k}"`));
    info.tensors.forEach((t, i) => cuts.set(layout.tensorInfoEnds[i]!, `after the tensor info of ${t.name}`));
    cuts.set(info.dataOffset, "at the data section");
    for (const t of info.tensors) {
        cuts.set(t.fileOffset, `at the start of ${t.name}`);
        cuts.set(t.fileOffset + t.byteSize, `at the end of ${t.name}`);
    }
    for (const s of streams) {
        const n = s.t.name;
        cuts.set(s.t.fileOffset + ENTQ_FIXED_HEADER_BYTES, `after ${n}'s fixed header`);
        cuts.set(s.scalesEnd, `after ${n}'s row scales`);
        cuts.set(s.symbolsEnd, `after ${n}'s symbol set`);
        cuts.set(s.index, `at ${n}'s segment index`);
        s.segments.forEach((at, k) => cuts.set(at, `at ${n}'s segment ${k}`));
    }
    cuts.delete(bytes.length); // the whole file is no truncation
    let points = [...cuts].filter(([at]) => at > 0 && at < bytes.length).sort((a, b) => a[0] - b[0]);
    if (truncations !== "all") {
        for (let i = points.length - 1; i > 0; i--) {
            const j = rng.below(i + 1);
            [points[i], points[j]] = [points[j]!, points[i]!];
        }
        points = points.slice(0, truncations).sort((a, b) => a[0] - b[0]);
    }
    for (const [at, where] of points) add("truncated at a boundary", `cut at byte ${at}, ${where}`, false, (b) => b.subarray(0, at));
    return mutants;
}
