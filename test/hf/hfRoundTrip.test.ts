// The Hugging Face path end to end on a real model: stories260K exported as an HF folder
// (HF tensor names, q/k rows in HF's order, two shards + index, a SentencePiece
// tokenizer.model built from its vocabulary), converted back by `entgguf convert <folder>`.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { Llama, Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { exportHfFolder } from "../../src/bench/exportHfFolder.js";
import { convertModel } from "../../src/convert/convertModel.js";
import { ENTQ_GGML_TYPE } from "../../src/gguf/ggmlTypes.js";
import type { GgufMetadata } from "../../src/gguf/GgufFileInfo.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { getEntLlama } from "../../src/runtime/getEntLlama.js";
import { demoModel, repoRoot } from "../helpers/sharedData.js";


/** A scalar metadata value (undefined for arrays and absent keys). */
const scalar = (md: GgufMetadata, key: string) => (md.get(key) as { value?: unknown } | undefined)?.value;
const cli = join(repoRoot, "dist", "bin", "entgguf.js");
const SAMPLE = readFileSync(join(repoRoot, "test", "fixtures", "short-stories.txt"), "utf8");
const PROMPT = "Once upon a time, there was a little girl named Lily.";
const CHAT = "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}";
// what llama.cpp's converter does not write for a SentencePiece folder whose config.json names only BOS and EOS
const NOT_FROM_HF = new Set(["general.name", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id"]);

let dir: string;
let folder: string;
const files = { uncoded: "", codedHf: "", codedGguf: "" };

beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "entgguf-hf-"));
    folder = join(dir, "stories260K-hf");
    await exportHfFolder(demoModel, folder, { shards: 2, chatTemplate: CHAT });
    files.uncoded = join(dir, "uncoded.gguf");
    files.codedHf = join(dir, "coded-hf.gguf");
    files.codedGguf = join(dir, "coded-gguf.gguf");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("stories260K through a Hugging Face folder", () => {
    it("--uncoded gives back every tensor bit for bit, and the metadata", async () => {
        const r = spawnSync(process.execPath, [cli, "convert", folder, "-o", files.uncoded, "--uncoded", "--json"], { encoding: "utf8" });
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ tensors: 48 });
        const [src, dst] = await Promise.all([readGguf(demoModel), readGguf(files.uncoded)]);
        try {
            expect(dst.info.tensors.map((t) => t.name).sort()).toEqual(src.info.tensors.map((t) => t.name).sort());
            for (const t of src.info.tensors) {
                const d = dst.tensor(t.name)!;
                expect([d.type, d.dims], t.name).toEqual([t.type, t.dims]);
                // the q/k rows went to HF's order and back: bit-exact only if both permutations are right
                expect(Buffer.compare(await dst.readTensorData(d), await src.readTensorData(t)), t.name).toBe(0);
            }
            for (const [k, v] of src.info.metadata) if (!NOT_FROM_HF.has(k)) expect(dst.info.metadata.get(k), k).toEqual(v);
            const md = dst.info.metadata;
            expect(scalar(md, "general.name")).toBe("stories260K-hf");
            expect(scalar(md, "llama.rope.freq_base")).toBe(10000); // llama.cpp's default, which the original leaves implicit
            expect(scalar(md, "llama.vocab_size")).toBe(512);
            expect(scalar(md, "general.file_type")).toBe(0); // all F32
            expect(scalar(md, "tokenizer.ggml.pre")).toBe("default");
            expect(scalar(md, "tokenizer.ggml.add_bos_token")).toBe(true);
            expect(scalar(md, "tokenizer.ggml.add_eos_token")).toBe(false);
            expect(scalar(md, "tokenizer.chat_template")).toBe(CHAT);
        } finally {
            await Promise.all([src.close(), dst.close()]);
        }
    });

    it("coded: the same file as coding the GGUF itself, stream for stream", async () => {
        const options = { bits: 3, progress: false as const };
        const fromHf = await convertModel(folder, files.codedHf, options);
        const fromGguf = await convertModel(demoModel, files.codedGguf, options);
        expect(fromHf.tensors).toHaveLength(37);
        expect(fromHf.bitsPerWeight).toBe(fromGguf.bitsPerWeight);
        const [a, b] = await Promise.all([readGguf(files.codedHf), readGguf(files.codedGguf)]);
        try {
            for (const t of b.info.tensors) {
                const u = a.tensor(t.name)!;
                expect(u.type, t.name).toBe(t.type);
                expect(Buffer.compare(await a.readTensorData(u), await b.readTensorData(t)), t.name).toBe(0);
            }
            expect(a.info.tensors.filter((t) => t.type === ENTQ_GGML_TYPE)).toHaveLength(37);
            // per-tensor arrays follow each file's tensor order (the folder lists the head last), so compare them by name
            const perTensor = new Set(["entq.lambdas", "entq.fallbacks"]);
            const byName = (g: typeof a, key: string) => {
                const items = (g.info.metadata.get(key) as { items: ArrayLike<number> }).items;
                const coded = g.info.tensors.filter((t) => t.type === ENTQ_GGML_TYPE).map((t) => t.name);
                return Object.fromEntries(coded.map((n, i) => [n, items[i]]));
            };
            for (const [k, v] of b.info.metadata)
                if (k.startsWith("entq.")) {
                    if (perTensor.has(k)) expect(byName(a, k), k).toEqual(byName(b, k));
                    else expect(a.info.metadata.get(k), k).toEqual(v);
                }
        } finally {
            await Promise.all([a.close(), b.close()]);
        }
    });
});

describe("through the patched llama.cpp", () => {
    let llama: Llama;
    beforeAll(async () => {
        llama = await getEntLlama(); // builds the patched llama.cpp on the first run (minutes)
    });

    async function run(modelPath: string) {
        const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
        try {
            const tokens = model.tokenize(SAMPLE);
            const context = await model.createContext({ contextSize: 256, sequences: 1, flashAttention: false });
            const greedy: Token[] = [];
            for await (const t of context.getSequence().evaluate([model.tokens.bos!, ...model.tokenize(PROMPT)] as Token[], { temperature: 0 })) {
                greedy.push(t);
                if (greedy.length >= 32) break;
            }
            await context.dispose();
            return { tokens, greedy, text: model.detokenize(greedy) };
        } finally {
            await model.dispose();
        }
    }

    it("the same tokenization and greedy tokens as the original, uncoded and coded", async () => {
        const original = await run(demoModel);
        const uncoded = await run(files.uncoded);
        expect(original.tokens.length).toBeGreaterThan(500);
        expect(uncoded.tokens).toEqual(original.tokens);
        expect(original.greedy).toHaveLength(32);
        expect(uncoded.greedy, uncoded.text).toEqual(original.greedy);
        // coded: equal to the same coding of the original file (coding itself changes the weights)
        const codedHf = await run(files.codedHf);
        const codedGguf = await run(files.codedGguf);
        expect(codedHf.tokens).toEqual(original.tokens);
        expect(codedHf.greedy, codedHf.text).toEqual(codedGguf.greedy);
        console.log(`greedy text, original: ${JSON.stringify(original.text)}\n  coded at 3 bits from the HF folder: ${JSON.stringify(codedHf.text)}`);
    });
});
