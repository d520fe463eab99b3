// Plot data generation (which points, which values, ratios to the speed reference) and a headless
// render of the Vega-Lite spec to SVG and PNG.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import type { BenchArtefact, BenchResults } from "../../src/bench/BenchResults.js";
import { formatResultsMarkdown } from "../../src/bench/formatResultsMarkdown.js";
import { plotData, plotResults, plotSpec } from "../../src/bench/plotResults.js";

const dir = mkdtempSync(join(tmpdir(), "entgguf-plot-"));
afterAll(() => void (process.env.ENTGGUF_KEEP_PLOT || rmSync(dir, { recursive: true, force: true })));

function artefact(label: string, kind: BenchArtefact["kind"], method: string, bits: number, ppl: number, kld: number | undefined, pp: number, tg: number): BenchArtefact {
    const v = (value: number) => ({ value, error: value / 100 });
    return {
        label,
        kind,
        method,
        setting: label,
        file: `/x/${label}.gguf`,
        fileBytes: 1e6 * bits,
        fileBitsPerWeight: bits * 1.5,
        linear: { tensors: 35, bytes: 1000 * bits, elements: 8000, bitsPerWeight: bits, types: { [kind === "entq" ? "entq" : "q8_0"]: 35 } },
        calibration: false,
        fallbacks: label === "Q4_K_M" ? [{ tensor: "blk.0.attn_q.weight", cols: 64, block: 256, wanted: "q4_K", used: "q5_0" }] : [],
        perplexity: {
            ppl: v(ppl),
            chunks: 4,
            nCtx: 64,
            kld: kld === undefined ? undefined : { pplBase: v(3.5), mean: v(kld), median: kld / 2, p99: kld * 5, max: kld * 20, sameTopPercent: v(95), rmsDeltaPPercent: v(1) }
        },
        speed: { pp: { mean: pp, stddev: 1, samples: [pp] }, tg: { mean: tg, stddev: 1, samples: [tg] } }
    };
}

const results: BenchResults = {
    source: "/models/tiny.gguf",
    text: "/text/t.txt",
    evalChars: 1000,
    calibrationChars: 1000,
    settings: { ctx: 64, chunks: 4, threads: 2, speed: { prompt: 32, gen: 8, rounds: 2 }, imatrixChunks: 4 },
    speedReference: "Q8_0",
    speedRun: { date: "2026-01-01T00:00:00Z", loadAverageStart: [1, 1, 1], loadAverageEnd: [2, 2, 2] },
    machine: { cpu: "test cpu", cores: 2, loadAverageStart: [1, 1, 1], loadAverageEnd: [2, 2, 2], date: "2026-01-01T00:00:00Z", node: "v20", toolsBuild: "test" },
    commands: [],
    artefacts: [
        artefact("source", "source", "source", 32, 3.5, undefined, 1000, 100),
        artefact("entq-fp8-3", "entq", "entgguf FP8", 3.1, 3.6, 0.02, 500, 80),
        artefact("entq-fp8-2", "entq", "entgguf FP8", 2.05, 3.9, 0.08, 450, 70),
        artefact("Q8_0", "peer", "llama.cpp", 8.5, 3.501, 0, 800, 200),
        artefact("Q4_K_M", "peer", "llama.cpp", 5.5, 3.55, 0.01, 900, 250)
    ]
};

describe("plot data", () => {
    it("one point per quantised model, sorted by method then bits; speeds relative to the reference", () => {
        const { points, sourcePpl } = plotData(results);
        expect(sourcePpl).toBe(3.5);
        expect(points.map((p) => p.label)).toEqual(["entq-fp8-2", "entq-fp8-3", "Q4_K_M", "Q8_0"]);
        expect(points.map((p) => p.coded)).toEqual([true, true, false, false]);
        // x is the whole file's bits/weight, not the coded tensors'
        expect(points.map((p) => p.bits)).toEqual(points.map((p) => results.artefacts.find((a) => a.label === p.label)!.fileBitsPerWeight));
        const q4 = points.find((p) => p.label === "Q4_K_M")!;
        expect(q4.tg).toBeCloseTo(250 / 200, 12);
        expect(q4.pp).toBeCloseTo(900 / 800, 12);
        expect(points.find((p) => p.label === "Q8_0")!.tg).toBe(1);
        // a zero KLD cannot sit on a log axis: left out of that panel, kept in the others
        expect(points.find((p) => p.label === "Q8_0")!.kld).toBeUndefined();
        expect(points.find((p) => p.label === "Q8_0")!.ppl).toBe(3.501);
    });

    it("the spec has KLD, PPL and both speed panels, and the source's PPL as a rule", () => {
        const spec = plotSpec(results) as { concat: { layer: { data?: { values?: { v: number }[] } }[] }[] };
        expect(spec.concat).toHaveLength(4);
        expect(spec.concat[1]!.layer[2]!.data!.values![0]!.v).toBe(3.5);
        const noSpeed = plotSpec({ ...results, speedReference: undefined, settings: { ...results.settings, speed: false } }) as { concat: unknown[] };
        expect(noSpeed.concat).toHaveLength(2);
    });

    it("renders SVG and PNG headlessly with every method and label", async () => {
        const [svgFile, pngFile] = await plotResults(results, join(dir, "plot"));
        const svg = readFileSync(svgFile!, "utf8");
        expect(svg.startsWith("<svg")).toBe(true);
        for (const s of ["entgguf FP8", "llama.cpp", "Q4_K_M", "Q8_0", "source 3.500"]) expect(svg).toContain(s);
        expect(svg).not.toContain("entq-fp8-2"); // coded models are told apart by colour and bits, not names
        const png = readFileSync(pngFile!);
        expect([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join("")).toBe("PNG");
        expect(png.length).toBeGreaterThan(10_000);
    });

    it("the markdown table shows ratios to the reference, calibration use and fallbacks", () => {
        const md = formatResultsMarkdown(results);
        const row = md.split("\n").find((l) => l.startsWith("| Q4_K_M |"))!;
        expect(row).toContain("1.25 (250)"); // tg 250 / 200
        expect(row).toContain("1 of 35: q4_K→q5_0 ×1");
        expect(md.split("\n").find((l) => l.startsWith("| Q8_0 |"))).toContain("| none |");
        expect(md).toContain("Speed runs 2026-01-01T00:00:00Z, load average 1.00/1.00/1.00 at start, 2.00/2.00/2.00 at end");
    });
});
