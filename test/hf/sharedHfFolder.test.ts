import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { writeUncodedModel } from "../../src/convert/writeUncodedModel.js";
import { readWeights } from "../../src/convert/readWeights.js";
import type { GgufValue } from "../../src/gguf/GgufFileInfo.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { sharedFile } from "../helpers/sharedData.js";

// The shared 5M Llama comes as a Hugging Face folder and as the F16 GGUF that llama.cpp's own
// convert_hf_to_gguf.py made from it: converting the folder here must give the same GGUF, but for
// the F32 -> F16 rounding and the keys that describe the file rather than the model.
const folder = sharedFile("models/small-llama-5m-hf/config.json");
const reference = sharedFile("models/small-llama-5m-f16.gguf");
const missing = folder.missing ?? reference.missing;
const DESCRIBE_THE_FILE = new Set(["general.name", "general.file_type", "general.type", "general.size_label", "general.quantization_version"]);

let dir = "";
afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

function plain(v: GgufValue | undefined): unknown {
    if (!v) return undefined;
    return v.type === 9 ? Array.from(v.items as ArrayLike<unknown>) : v.value;
}

describe("the shared 5M Llama's Hugging Face folder, as llama.cpp's converter turned it into a GGUF", () => {
    it.skipIf(missing)(missing ?? "same tensors (q/k rows permuted as llama.cpp does), same vocabulary and hyper-parameters", async () => {
        dir = mkdtempSync(join(tmpdir(), "entgguf-hf5m-"));
        const out = join(dir, "5m.gguf");
        await writeUncodedModel(join(folder.path, ".."), out);
        const [ours, theirs] = await Promise.all([readGguf(out), readGguf(reference.path)]);
        try {
            expect(ours.info.tensors.map((t) => t.name).sort()).toEqual(theirs.info.tensors.map((t) => t.name).sort());
            const keys = new Set([...ours.info.metadata.keys(), ...theirs.info.metadata.keys()]);
            for (const k of keys) if (!DESCRIBE_THE_FILE.has(k)) expect(plain(ours.info.metadata.get(k)), k).toEqual(plain(theirs.info.metadata.get(k)));
            for (const t of theirs.info.tensors) {
                const u = ours.tensor(t.name)!;
                expect(u.dims, t.name).toEqual(t.dims);
                const [a, b] = [await readWeights(ours, u), await readWeights(theirs, t)];
                // ours keep the checkpoint's F32; theirs are rounded to F16 (relative error <= 2^-11, absolute for subnormals)
                let worst = -1;
                for (let i = 0; i < a.length && worst < 0; i++) if (Math.abs(a[i]! - b[i]!) > Math.abs(b[i]!) * 2 ** -11 + 2 ** -24) worst = i;
                expect(worst, `${t.name}: first weight beyond f16 rounding`).toBe(-1);
            }
        } finally {
            await Promise.all([ours.close(), theirs.close()]);
        }
    });
});
