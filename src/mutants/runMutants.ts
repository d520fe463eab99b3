// Runs mutated files through the patched llama.cpp in a child process (scripts/loadMutants.mjs) and classifies each:
// loaded with the original's logits, loaded with other logits, refused (with the error), failed otherwise, crashed
// the process (exit by signal or code) or hung (no answer within the timeout). After a crash or a hang the child is
// restarted on the next file, so one bad file never hides the others.
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { packageRoot } from "../native/binding.js";
import type { Mutant } from "./makeMutants.js";

export type MutantOutcome = "same" | "different" | "refused" | "error" | "crash" | "hang";

export interface MutantResult {
    mutant: Mutant;
    outcome: MutantOutcome;
    /** for "refused": who refused it ("gguf": entgguf's header check; "llama.cpp") */
    stage?: "gguf" | "llama.cpp";
    /** the error ("refused", "error") or how the process ended and its last stderr lines ("crash", "hang") */
    message?: string;
    ms: number;
}

export interface RunMutantsOptions {
    /** a file that gets no answer in this time is a hang (default 60 s) */
    timeoutMs?: number;
    /** extra environment for the child (e.g. ENTGGUF_CPU_LAYOUT=0) */
    env?: Record<string, string>;
    /** a scratch folder for the list of files */
    dir: string;
    onResult?: (r: MutantResult) => void;
}

type ChildLine = { i: number; outcome: MutantOutcome; stage?: "gguf" | "llama.cpp"; message?: string; ms: number };

/** One child from file `first` on; resolves with the index it stopped at and why, if it stopped early. */
function runChild(original: string, list: string, first: number, options: RunMutantsOptions, onLine: (r: ChildLine) => void) {
    return new Promise<{ next: number; ended?: { how: "crash" | "hang"; message: string; ms: number } }>((resolve) => {
        const child = spawn(process.execPath, [join(packageRoot(), "scripts", "loadMutants.mjs"), original, list, String(first)], {
            env: { ...process.env, ...options.env },
            stdio: ["ignore", "pipe", "pipe"]
        });
        let current = -1;
        let started = 0;
        let stderr = "";
        let hung = false;
        let timer: NodeJS.Timeout | undefined;
        const arm = () => {
            clearTimeout(timer);
            timer = setTimeout(() => ((hung = true), child.kill("SIGKILL")), options.timeoutMs ?? 60_000);
        };
        arm(); // the child's own start and the original's load count against the first file
        child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
        createInterface({ input: child.stdout }).on("line", (line) => {
            if (line.startsWith("start ")) {
                current = Number(line.slice(6));
                started = performance.now();
                arm();
            } else if (line.startsWith("{")) onLine(JSON.parse(line) as ChildLine);
        });
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            const ms = Math.round(performance.now() - started);
            if (current < 0) {
                // it never reached the first file: the original itself or the setup failed
                resolve({ next: first, ended: { how: hung ? "hang" : "crash", message: `the loader failed before any file (exit ${signal ?? code}): ${stderr}`, ms } });
            } else if (code === 0 && !hung) resolve({ next: Number.POSITIVE_INFINITY });
            else resolve({ next: current + 1, ended: { how: hung ? "hang" : "crash", message: `${hung ? "killed after the timeout" : `exit ${signal ?? code}`}: ${stderr.trim().split("\n").slice(-8).join("\n")}`, ms } });
        });
    });
}

/** Loads every mutant (see scripts/loadMutants.mjs) and returns one result per mutant, in order. */
export async function runMutants(original: string, mutants: readonly Mutant[], options: RunMutantsOptions): Promise<MutantResult[]> {
    const list = join(options.dir, "mutants.json");
    writeFileSync(list, JSON.stringify(mutants.map((m) => m.file)));
    const results: MutantResult[] = [];
    const record = (r: MutantResult) => {
        results.push(r);
        options.onResult?.(r);
    };
    let next = 0;
    while (next < mutants.length) {
        const run = await runChild(original, list, next, options, ({ i, ...r }) => record({ mutant: mutants[i]!, ...r }));
        if (!run.ended) break;
        if (run.next === next) throw new Error(`runMutants: ${run.ended.message}`); // no file reached: nothing to blame a file for
        record({ mutant: mutants[run.next - 1]!, outcome: run.ended.how, message: run.ended.message, ms: run.ended.ms });
        next = run.next;
    }
    return results;
}
