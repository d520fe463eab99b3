// The mutated-file pass, bounded (the full pass: npm run check:mutated-files): a seeded subset of the mutations
// of src/mutants/makeMutants.ts (bit flips in coded streams, tensor infos and the vocabulary; cuts at structure
// boundaries), each loaded by a child process as an app would. Each must load with the original's logits or be
// refused with an error naming the file; never a crash (the child killed by a signal or aborted), a hang, other
// logits or another error.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { LlamaLogLevel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { convertModel } from "../../src/convert/convertModel.js";
import type { GgufMetadata } from "../../src/gguf/GgufFileInfo.js";
import { GgufValueType } from "../../src/gguf/GgufValueType.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { writeGguf } from "../../src/gguf/writeGguf.js";
import { formatMutantCounts } from "../../src/mutants/formatMutantCounts.js";
import { makeMutants, type Mutant } from "../../src/mutants/makeMutants.js";
import { runMutants, type MutantResult } from "../../src/mutants/runMutants.js";
import { getEntLlama } from "../../src/runtime/getEntLlama.js";
import { EntModelLoadError, loadEntModel } from "../../src/runtime/loadEntModel.js";
import { demoModel } from "../helpers/sharedData.js";

const dir = mkdtempSync(join(tmpdir(), "entgguf-mutated-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const original = join(dir, "original.gguf");
let mutants: Mutant[] = [];

beforeAll(async () => {
    await getEntLlama(); // the patched build, built on the first run (minutes)
    await convertModel(demoModel, original, { bits: 3, segmentSymbols: 1024, progress: false });
    mutants = await makeMutants(original, dir, { seed: 1717, flips: 16, truncations: 150 });
}, 900_000);

function expectEachLoadsOrIsRefused(results: MutantResult[], expected: number) {
    expect(results.length).toBe(expected);
    for (const r of results) {
        const label = `${r.mutant.kind}: ${r.mutant.what} (${r.mutant.file}): ${r.outcome} ${r.message ?? ""}`;
        expect(["same", "refused"], label).toContain(r.outcome);
        if (r.outcome === "refused") expect(r.message, label).toContain(r.mutant.file);
        // damage inside a coded stream is always caught at load, by its checksum
        if (r.mutant.inStream) expect(r.outcome, label).toBe("refused");
    }
}

describe("mutated coded files through the patched llama.cpp", () => {
    it("each one loads with the original's logits or is refused with a clear error (CPU layout, the default)", async () => {
        const results = await runMutants(original, mutants, { dir, timeoutMs: 60_000 });
        console.log(`${mutants.length} mutated files, CPU layout:\n${formatMutantCounts(results)}`);
        expectEachLoadsOrIsRefused(results, mutants.length);

        // what the first pass found: minutes in node-llama-cpp's reader; an abort in llama.cpp's vocabulary loader
        const nDims = results.find((r) => r.mutant.what.startsWith("dimension count of"))!;
        expect(nDims.stage).toBe("gguf");
        expect(nDims.ms).toBeLessThan(5_000);
        const duplicate = results.find((r) => r.mutant.what.includes("overwritten with token"))!;
        expect(duplicate.stage).toBe("llama.cpp");
        expect(duplicate.message).toMatch(/tokenizer\.ggml\.tokens: 1 of \d+ tokens are duplicates/);
        // a stream's damage is named: the tensor, and the segment where one is to blame
        for (const r of results.filter((r) => r.mutant.inStream)) expect(r.message).toMatch(/tensor '[\w.]+': /);
    });

    it("damage inside coded streams is refused on the rANS path too (mapped, the loader's check)", async () => {
        const inStream = mutants.filter((m) => m.inStream);
        const results = await runMutants(original, inStream, { dir, timeoutMs: 60_000, env: { ENTGGUF_CPU_LAYOUT: "0" } });
        console.log(`${inStream.length} mutated streams, rANS path:\n${formatMutantCounts(results)}`);
        expectEachLoadsOrIsRefused(results, inStream.length);
        expect(results.filter((r) => / segment \d+ of \d+ \(rows \d+-\d+\): does not decode/.test(r.message ?? "")).length).toBeGreaterThan(0);
    });

    it("a vocabulary whose tokenizer adds a BOS it does not hold is refused at load (tokenising asserted it)", async () => {
        // one token left: llama's tokenizer adds a BOS (id 1 by default, now out of range); llama.cpp used to load
        // this and abort at the first tokenisation with special tokens
        const reader = await readGguf(original);
        const one = <T>(key: string, items: T) => [key, { type: GgufValueType.ARRAY, itemType: (reader.info.metadata.get(key) as { itemType: number }).itemType, items }] as const;
        const metadata = new Map(reader.info.metadata) as Map<string, unknown>;
        for (const [k, v] of [
            one("tokenizer.ggml.tokens", ["<unk>"]),
            one("tokenizer.ggml.scores", new Float32Array([0])),
            one("tokenizer.ggml.token_type", new Int32Array([2]))
        ])
            metadata.set(k, v);
        const file = join(dir, "no-bos.gguf");
        await writeGguf(file, { metadata: metadata as GgufMetadata, tensors: reader.info.tensors }, (t) => reader.readTensorData(t.name));
        await reader.close();
        const llama = await getEntLlama();
        llama.logLevel = LlamaLogLevel.disabled; // the reason still reaches the error
        const error = await loadEntModel(llama, { modelPath: file, gpuLayers: 0 }).then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(EntModelLoadError);
        expect((error as EntModelLoadError).message).toBe(`cannot load ${file}: error loading model vocabulary: the vocabulary needs a BOS token but has none in range`);
    });
});

