// The rate–distortion picture: mean KL-divergence and perplexity against bits/weight, one line per
// method, and speed against bits/weight (relative to the reference peer). Vega-Lite, rendered headlessly
// to SVG by Vega's View (no browser), and to PNG by resvg (a prebuilt binary from npm).
import { writeFileSync } from "node:fs";

import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import * as vegaLite from "vega-lite";

import type { BenchResults } from "./BenchResults.js";

export interface PlotPoint {
    label: string;
    /** an entropy-coded model (drawn unlabelled) */
    coded: boolean;
    method: string;
    /** bits/weight of the whole file */
    bits: number;
    ppl?: number;
    kld?: number;
    /** tokens/s relative to the speed reference */
    pp?: number;
    tg?: number;
}

/** One point per quantised artefact (the source is drawn as a reference line, not a point). */
export function plotData(r: BenchResults): { points: PlotPoint[]; sourcePpl?: number } {
    const ref = r.artefacts.find((a) => a.label === r.speedReference)?.speed;
    const points = r.artefacts
        .filter((a) => a.kind !== "source")
        .map((a) => ({
            label: a.label,
            coded: a.kind === "entq",
            method: a.method,
            // the whole file: what a user stores and loads, embeddings, head and norms included
            bits: a.fileBitsPerWeight,
            ppl: a.perplexity?.ppl.value,
            // a log axis cannot show 0 (or the tiny negative means float rounding can give)
            kld: a.perplexity?.kld && a.perplexity.kld.mean.value > 0 ? a.perplexity.kld.mean.value : undefined,
            pp: a.speed && ref ? a.speed.pp.mean / ref.pp.mean : undefined,
            tg: a.speed && ref ? a.speed.tg.mean / ref.tg.mean : undefined
        }))
        .sort((x, y) => x.method.localeCompare(y.method) || x.bits - y.bits);
    return { points, sourcePpl: r.artefacts.find((a) => a.kind === "source")?.perplexity?.ppl.value };
}

type Spec = Record<string, unknown>;

function panel(field: keyof PlotPoint, title: string, opts: { log?: boolean; rule?: number; ruleText?: string } = {}): Spec {
    const x = { field: "bits", type: "quantitative", title: "bits/weight (whole file)", scale: { zero: false } };
    const y = { field, type: "quantitative", title, scale: opts.log ? { type: "log" } : { zero: false } };
    const layers: Spec[] = [
        {
            data: { name: "points" },
            transform: [{ filter: `isValid(datum.${field})` }],
            mark: { type: "line", point: { size: 50, filled: true } },
            encoding: { x, y, color: { field: "method", type: "nominal", title: "method" }, order: { field: "bits" } }
        },
        {
            // peers are named (their type is the point); coded models are read from colour and bits
            data: { name: "points" },
            transform: [{ filter: `isValid(datum.${field}) && !datum.coded` }],
            mark: { type: "text", dx: 6, dy: -7, align: "left", fontSize: 9, color: "#444" },
            encoding: { x, y, text: { field: "label" } }
        }
    ];
    if (opts.rule !== undefined)
        layers.push({
            data: { values: [{ v: opts.rule, t: opts.ruleText ?? "" }] },
            layer: [
                { mark: { type: "rule", strokeDash: [4, 4], color: "#888" }, encoding: { y: { field: "v", type: "quantitative" } } },
                { mark: { type: "text", align: "left", dx: 4, dy: -5, fontSize: 9, color: "#666", x: 0 }, encoding: { y: { field: "v", type: "quantitative" }, text: { field: "t" } } }
            ]
        });
    return { width: 360, height: 240, layer: layers };
}

/** The Vega-Lite spec: KLD and PPL on top, prompt and generation speed below. */
export function plotSpec(r: BenchResults): Spec {
    const { points, sourcePpl } = plotData(r);
    const model = r.source.split("/").pop();
    const panels = [
        panel("kld", "mean KL-divergence to the source (log)", { log: true }),
        panel("ppl", "perplexity (log)", { log: true, ...(sourcePpl !== undefined ? { rule: sourcePpl, ruleText: `source ${sourcePpl.toFixed(3)}` } : {}) })
    ];
    if (r.speedReference && points.some((p) => p.tg !== undefined)) {
        panels.push(panel("pp", `prompt tokens/s ÷ ${r.speedReference}`, { rule: 1 }));
        panels.push(panel("tg", `generation tokens/s ÷ ${r.speedReference}`, { rule: 1 }));
    }
    return {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        title: { text: `${model}: entropy-coded vs llama.cpp quant types`, subtitle: `llama-perplexity -c ${r.settings.ctx} --chunks ${r.settings.chunks}; ${r.machine.cpu}, ${r.settings.threads} threads` },
        datasets: { points },
        columns: 2,
        concat: panels,
        // one bits/weight axis for every panel, so points line up across them
        resolve: { scale: { x: "shared" } },
        config: { font: "DejaVu Sans", background: "white", legend: { orient: "right" } }
    };
}

/** Writes `<prefix>.svg` and `<prefix>.png`; returns their paths. */
export async function plotResults(r: BenchResults, prefix: string): Promise<string[]> {
    const compiled = vegaLite.compile(plotSpec(r) as unknown as vegaLite.TopLevelSpec).spec;
    const view = new vega.View(vega.parse(compiled), { renderer: "none" });
    const svg = await view.toSVG();
    view.finalize();
    writeFileSync(`${prefix}.svg`, svg);
    const png = new Resvg(svg, { fitTo: { mode: "zoom", value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } }).render().asPng();
    writeFileSync(`${prefix}.png`, png);
    return [`${prefix}.svg`, `${prefix}.png`];
}
