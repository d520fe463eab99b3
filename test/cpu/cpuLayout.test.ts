// The CPU layout (native/cpu/entq_repack.h) on real weights: every coded tensor of the shared 5M model at
// 2, 2.5, 3 and 4 bits/weight is repacked, decoded by both layout decoders, and must give exactly the
// reference decoder's codes (as values: level x unit == codebook[code] x scale_base). Also its size next
// to the stream's, which decides whether the patched ggml-cpu uses it (at most 1.05x).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { convertModel } from "../../src/convert/convertModel.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { ENTQ_GGML_TYPE } from "../../src/gguf/ggmlTypes.js";
import { getNativeBinding, CodeKind } from "../../src/native/binding.js";
import { decodeStream } from "../../src/stream/decodeStream.js";
import { sharedFile } from "../helpers/sharedData.js";

const model = sharedFile("models/small-llama-5m-f16.gguf");
const MODEL = model.path;
if (model.missing) console.warn(`CPU layout tests on real weights ${model.missing}`);

/** OCP FP8 E4M3 byte to its value (the format's codebook for code kind 0). */
function e4m3(c: number): number {
    const e = (c >> 3) & 15;
    const m = c & 7;
    const v = e === 0 ? m * 2 ** -9 : (1 + m / 8) * 2 ** (e - 7);
    return c & 0x80 ? -v : v;
}

describe.skipIf(!!model.missing)("CPU layout of the shared 5M model", () => {
    let dir: string;
    beforeAll(() => {
        dir = mkdtempSync(join(tmpdir(), "entgguf-layout-"));
    });
    afterAll(() => {
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    for (const bits of [2, 2.5, 3, 4])
        it(`at ${bits} bits/weight: every coded tensor decodes to the reference's codes`, async () => {
            const file = join(dir, `5m-${bits}.gguf`);
            await convertModel(MODEL, file, { bits, progress: false });
            const reader = await readGguf(file);
            const b = getNativeBinding();
            let streamBytes = 0;
            let layoutBytes = 0;
            let tensors = 0;
            let pairCodes = 0;
            try {
                for (const t of reader.info.tensors) {
                    if (t.type !== ENTQ_GGML_TYPE) continue;
                    const stream = await reader.readTensorData(t);
                    const layout = await b.cpuLayout(stream, { maxGrowth: 1e9, levels: true });
                    expect(layout.status, t.name).toBe("ok");
                    expect(layout.decodersAgree, t.name).toBe(true);
                    const { codes, info } = await decodeStream(stream, "codes");
                    expect(info.codeKind).toBe(CodeKind.E4M3);
                    const levels = layout.levels!;
                    expect(levels.length).toBe(codes.length);
                    let bad = -1;
                    for (let i = 0; i < codes.length && bad < 0; i++)
                        if (levels[i]! * layout.unit! !== e4m3(codes[i]!) * info.scaleBase) bad = i;
                    expect(bad, `${t.name}: first differing weight`).toBe(-1);
                    streamBytes += stream.length;
                    layoutBytes += layout.layoutBytes!;
                    tensors++;
                    if (layout.pairCode) pairCodes++;
                }
            } finally {
                await reader.close();
            }
            console.log(
                `5M model at ${bits} bits: ${tensors} coded tensors, CPU layout ${(layoutBytes / streamBytes).toFixed(4)}x the streams' bytes ` +
                    `(${pairCodes} with pair codes)`
            );
            expect(tensors).toBe(44); // 42 linear weights, the output head, the token embeddings
            expect(layoutBytes / streamBytes).toBeLessThan(1.05);
        });
});
