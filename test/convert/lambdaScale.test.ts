// A per-tensor split of bits (convert --lambda-scale): matching tensors are coded at the model's lambda times
// the factor, the model still meets its --bits target, and the factor moves bits where it says.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { convertModel, type ConvertSummary } from "../../src/convert/convertModel.js";
import { DEFAULT_LAMBDA_SCALES, lambdaScaleFor, parseLambdaScale } from "../../src/convert/lambdaScaleFor.js";
import { demoModel } from "../helpers/sharedData.js";

describe("convert --lambda-scale", () => {
    let dir: string;
    let plain: ConvertSummary, scaled: ConvertSummary, byDefault: ConvertSummary;
    const isV = (n: string) => /^blk\.\d+\.attn_v\.weight$/.test(n);

    beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), "entgguf-lscale-"));
        plain = await convertModel(demoModel, join(dir, "plain.gguf"), { bits: 3, threads: 2, progress: false, lambdaScales: [] });
        byDefault = await convertModel(demoModel, join(dir, "default.gguf"), { bits: 3, threads: 2, progress: false });
        scaled = await convertModel(demoModel, join(dir, "scaled.gguf"), {
            bits: 3,
            threads: 2,
            progress: false,
            lambdaScales: [{ pattern: "blk.*.attn_v.weight", scale: 0.25 }, { pattern: "blk.*", scale: 1 }, { pattern: "token_embd.weight", scale: 4 }]
        });
    }, 120_000);
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("codes matching tensors at the model's lambda times their factor, first match winning", () => {
        // stories260K is small enough that every row is sampled: one model lambda, no re-aims
        const base = scaled.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.lambda;
        for (const t of scaled.tensors) {
            const factor = isV(t.name) ? 0.25 : t.name === "token_embd.weight" ? 4 : 1;
            expect(t.lambda, t.name).toBeCloseTo(base * factor, 4);
        }
    });

    it("by default codes the embeddings and the output head at a quarter of the model's lambda", () => {
        expect(DEFAULT_LAMBDA_SCALES).toEqual([{ pattern: "token_embd.weight", scale: 0.25 }, { pattern: "output.weight", scale: 0.25 }]);
        const base = byDefault.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.lambda;
        for (const t of byDefault.tensors)
            expect(t.lambda, t.name).toBeCloseTo(base * (t.name === "token_embd.weight" || t.name === "output.weight" ? 0.25 : 1), 4);
        // one lambda for all when asked
        expect(new Set(plain.tensors.map((t) => t.lambda.toFixed(6))).size).toBe(1);
        expect(Math.abs(byDefault.bitsPerWeight - 3)).toBeLessThan(0.02);
    });

    it("moves bits to the tensors given a factor below 1 while the model keeps its target", () => {
        expect(Math.abs(plain.bitsPerWeight - 3)).toBeLessThan(0.02);
        expect(Math.abs(scaled.bitsPerWeight - 3)).toBeLessThan(0.02);
        const bits = (s: ConvertSummary, f: (n: string) => boolean) => {
            const ts = s.tensors.filter((t) => f(t.name));
            return ts.reduce((a, t) => a + t.codedBytes * 8, 0) / ts.reduce((a, t) => a + t.shape[0] * t.shape[1], 0);
        };
        expect(bits(scaled, isV)).toBeGreaterThan(bits(plain, isV) + 0.3);
        expect(bits(scaled, (n) => n === "token_embd.weight")).toBeLessThan(bits(plain, (n) => n === "token_embd.weight"));
    });

    it("parses glob=factor and refuses anything else, and combinations that cannot honour it", async () => {
        expect(parseLambdaScale("blk.*.ffn_down.weight=0.5")).toEqual({ pattern: "blk.*.ffn_down.weight", scale: 0.5 });
        expect(parseLambdaScale("a=b=2")).toEqual({ pattern: "a=b", scale: 2 });
        for (const bad of ["blk.*", "=2", "x=0", "x=-1", "x=abc", "x=Infinity"]) expect(() => parseLambdaScale(bad), bad).toThrow(/<glob>=<factor > 0>/);
        expect(lambdaScaleFor("output.weight", [{ pattern: "blk.*", scale: 2 }])).toBe(1);
        await expect(convertModel(demoModel, join(dir, "x.gguf"), { bits: 3, rateSplit: "tensor", lambdaScales: [{ pattern: "*", scale: 2 }] })).rejects.toThrow(/model split/);
        await expect(convertModel(demoModel, join(dir, "x.gguf"), { bits: 3, lambdaScales: [{ pattern: "*", scale: 0 }] })).rejects.toThrow(/finite factor > 0/);
    });
});
