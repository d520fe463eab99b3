// The mutated-file pass's report: outcomes per kind of mutation (refusals split by who refused), then the
// slowest files. Shared by scripts/mutateLoad.ts and the test command's bounded pass.
import { MUTANT_KINDS } from "./makeMutants.js";
import type { MutantResult } from "./runMutants.js";

/**
 * One line per kind, e.g. "  stream: payload               12 files: refused 12 (llama.cpp 12)", then the slowest
 * files, then one message per kind and stage (what a refusal says).
 */
export function formatMutantCounts(results: readonly MutantResult[], slowest = 3): string {
    const lines: string[] = [];
    const outcomes = (rs: readonly MutantResult[]) => {
        const counts = new Map<string, number>();
        for (const r of rs) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
        const stages = new Map<string, number>();
        for (const r of rs) if (r.stage) stages.set(r.stage, (stages.get(r.stage) ?? 0) + 1);
        return [...counts]
            .map(([o, n]) => (o === "refused" && stages.size ? `${o} ${n} (${[...stages].map(([s, k]) => `${s} ${k}`).join(", ")})` : `${o} ${n}`))
            .join(", ");
    };
    for (const kind of MUTANT_KINDS) {
        const rs = results.filter((r) => r.mutant.kind === kind);
        if (rs.length) lines.push(`  ${kind.padEnd(30)} ${String(rs.length).padStart(4)} files: ${outcomes(rs)}`);
    }
    lines.push(`  ${"all".padEnd(30)} ${String(results.length).padStart(4)} files: ${outcomes(results)}`);
    for (const r of [...results].sort((a, b) => b.ms - a.ms).slice(0, slowest)) lines.push(`  slow: ${r.ms} ms, ${r.mutant.kind}: ${r.mutant.what}`);
    // what a refusal says: the first of each kind and stage
    const shown = new Set<string>();
    for (const r of results) {
        const key = `${r.mutant.kind} / ${r.stage ?? r.outcome}`;
        if (r.outcome === "same" || shown.has(key)) continue;
        shown.add(key);
        lines.push(`  e.g. ${key}: ${r.mutant.what}: ${r.message?.split("\n")[0]}`);
    }
    return lines.join("\n");
}
