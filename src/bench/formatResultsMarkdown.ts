// results.md: one row per artefact; quality against the source's logits, speed relative to a reference
// peer measured in the same runs (GUIDE §4: CPU speeds are ratios), every fallback spelled out.
import type { BenchArtefact, BenchResults } from "./BenchResults.js";

function typeMix(a: BenchArtefact): string {
    return Object.entries(a.linear.types)
        .sort((x, y) => y[1] - x[1])
        .map(([t, n]) => `${t}×${n}`)
        .join(", ");
}

/** "35 of 35: q4_K→q5_0 ×30, q6_K→q8_0 ×5" (fallbacks among the coded weights) */
export function describeFallbacks(a: BenchArtefact): string {
    if (a.kind !== "peer") return "";
    if (!a.fallbacks.length) return "none";
    const pairs = new Map<string, number>();
    for (const f of a.fallbacks) pairs.set(`${f.wanted}→${f.used}`, (pairs.get(`${f.wanted}→${f.used}`) ?? 0) + 1);
    return `${a.fallbacks.length} of ${a.linear.tensors}: ${[...pairs].map(([p, n]) => `${p} ×${n}`).join(", ")}`;
}

const loads = (l: number[]) => l.map((x) => x.toFixed(2)).join("/");
const fixed = (x: number | undefined, d: number) => (x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(d));

export function formatResultsMarkdown(r: BenchResults): string {
    const ref = r.artefacts.find((a) => a.label === r.speedReference);
    const speed = (a: BenchArtefact, k: "pp" | "tg") => {
        if (!a.speed || !ref?.speed) return "–";
        return `${(a.speed[k].mean / ref.speed[k].mean).toFixed(2)} (${a.speed[k].mean.toFixed(0)})`;
    };
    const head = [
        "model",
        "method",
        "bits/w",
        "file bits/w",
        "file MB",
        "PPL",
        "mean KLD",
        "same top %",
        `pp${r.settings.speed ? r.settings.speed.prompt : ""} ×${r.speedReference ?? "–"} (t/s)`,
        `tg${r.settings.speed ? r.settings.speed.gen : ""} ×${r.speedReference ?? "–"} (t/s)`,
        "coded weight types",
        "fallbacks"
    ];
    const rows = r.artefacts.map((a) => [
        a.label,
        a.method + (a.calibration ? " (uses calibration data)" : ""),
        fixed(a.linear.bitsPerWeight, 3),
        fixed(a.fileBitsPerWeight, 3),
        fixed(a.fileBytes / 1e6, 3),
        a.perplexity ? `${fixed(a.perplexity.ppl.value, 4)} ± ${fixed(a.perplexity.ppl.error, 4)}` : "–",
        a.kind === "source" ? "0" : a.perplexity?.kld ? `${a.perplexity.kld.mean.value.toExponential(3)} ± ${a.perplexity.kld.mean.error.toExponential(1)}` : "–",
        a.kind === "source" ? "100" : fixed(a.perplexity?.kld?.sameTopPercent.value, 2),
        speed(a, "pp"),
        speed(a, "tg"),
        typeMix(a),
        describeFallbacks(a)
    ]);
    const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
    const s = r.settings;
    const m = r.machine;
    return [
        line(head),
        line(head.map((_, i) => (i >= 2 && i <= 9 ? "---:" : "---"))),
        ...rows.map(line),
        "",
        `bits/w: file bytes × 8 / elements of the ${r.artefacts[0]?.linear.tensors ?? 0} weights the converter codes (blk.*.attn_*/ffn_*, the output head, the token embeddings), tables and scales included; file bits/w: the whole file's bytes × 8 / the elements of every tensor (norms too); ` +
            `PPL and KLD: llama-perplexity -c ${s.ctx} --chunks ${s.chunks} on the first ${r.evalChars} characters of ${r.text}, KLD against the source's logits; ` +
            (s.speed
                ? `speed: llama-bench -p ${s.speed.prompt} -n ${s.speed.gen} -t ${s.threads}, ${s.speed.rounds} rounds × 2 repetitions, all models in each round, order reversed every other round; ` +
                  `ratio to ${r.speedReference}, absolute tokens/s in parentheses (CPU, shared machine: compare ratios).`
                : "no speed runs."),
        `Machine: ${m.cpu}, ${m.cores} cores; Node ${m.node}; ${m.toolsBuild}. ` +
            (s.rpc ? `Every layer on the RPC servers ${s.rpc.join(", ")} (llama-perplexity and llama-bench with --rpc, -ngl 999). ` : "") +
            (r.speedRun
                ? `Speed runs ${r.speedRun.date}, load average ${loads(r.speedRun.loadAverageStart)} at start, ${loads(r.speedRun.loadAverageEnd)} at end.`
                : `Run ${m.date}, load average ${loads(m.loadAverageStart)} at start, ${loads(m.loadAverageEnd)} at end.`),
        ""
    ].join("\n");
}
