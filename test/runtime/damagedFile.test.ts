// A damaged coded file inside an app: one flipped byte in a stream's payload must make loadEntModel reject with one
// error naming the file, the tensor and the segment, on the CPU layout and on the rANS path (mapped from the file,
// ENTGGUF_CPU_LAYOUT=0) alike, and the app must go on running (here: it loads the sound file and generates). Before
// the load-time checksum, the rANS path loaded such a file and aborted the whole process at the first multiply
// (SIGABRT, exit 134).
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { convertModel } from "../../src/convert/convertModel.js";
import { readGguf } from "../../src/gguf/readGguf.js";
import { getEntLlama } from "../../src/runtime/getEntLlama.js";
import { demoModel, repoRoot } from "../helpers/sharedData.js";

const dir = mkdtempSync(join(tmpdir(), "entgguf-damaged-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const good = join(dir, "good.gguf");
const bad = join(dir, "bad.gguf");

beforeAll(async () => {
    await getEntLlama(); // the patched build, built on the first run (minutes)
    await convertModel(demoModel, good, { bits: 4, progress: false });
    const reader = await readGguf(good);
    const t = reader.tensor("blk.2.ffn_up.weight")!;
    await reader.close();
    const bytes = readFileSync(good);
    bytes[t.fileOffset + t.byteSize - 50]! ^= 0x01; // one bit, inside the payload's last words
    writeFileSync(bad, bytes);
}, 900_000);

describe("a damaged coded file in an app", () => {
    for (const [path, env] of [
        ["CPU layout (default)", {}],
        ["rANS streams mapped from the file", { ENTGGUF_CPU_LAYOUT: "0" }]
    ] as const)
        it(`${path}: loading rejects naming the file, tensor and segment; the app keeps running`, () => {
            const r = spawnSync(process.execPath, [join(repoRoot, "test", "runtime", "app", "loadDamaged.mjs"), bad, good], {
                encoding: "utf8",
                env: { ...process.env, ...env },
                timeout: 120_000
            });
            expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
            const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as { error?: { name: string; stage: string; message: string }; text: string };
            console.log(`${path}: exit ${r.status}; loadModel rejected: ${JSON.stringify(out.error)}; then generated ${JSON.stringify(out.text)}`);
            expect(out.error?.name).toBe("EntModelLoadError");
            expect(out.error?.stage).toBe("llama.cpp");
            // one message: the file, the tensor, the segment
            expect(out.error?.message).toContain(bad);
            expect(out.error?.message).toMatch(/tensor 'blk\.2\.ffn_up\.weight': segment \d+ of \d+ \(rows \d+-\d+\): does not decode \(checksum mismatch\): the model file is damaged/);
            expect(out.text.length).toBeGreaterThan(0);
        });

    it("the sound copy still loads (the check refuses only damage)", () => {
        copyFileSync(good, join(dir, "copy.gguf"));
        const r = spawnSync(process.execPath, [join(repoRoot, "test", "runtime", "app", "loadDamaged.mjs"), join(dir, "copy.gguf"), good], { encoding: "utf8", timeout: 120_000 });
        expect(r.status, r.stderr).toBe(0);
        expect((JSON.parse(r.stdout.trim().split("\n").pop()!) as { error?: unknown }).error).toBeUndefined();
    });
});
