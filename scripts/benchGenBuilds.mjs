// Prompt and generation speed of one model under two (or more) patched llama.cpp
// builds, alternating builds each round so that drift from neighbouring jobs hits
// all alike: for A/B tests of kernel changes. Each run is its own process (only one
// llama.cpp build may be loaded per process). Build ids are the
// ENTGGUF_BUILD_ID values in node_modules/node-llama-cpp/llama/localBuilds/*/Release/_nlcBuildMetadata.json.
// Usage: node scripts/benchGenBuilds.mjs [--prompt <tokens>] <model.gguf> <threads> <rounds> <buildId> [<buildId> ...]
// (--prompt: the prompt evaluated in one batch before 32 generated tokens; default 8)
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const promptAt = args.indexOf("--prompt");
const promptTokens = promptAt >= 0 ? Number(args.splice(promptAt, 2)[1]) : 8;
const [model, threads, rounds, ...ids] = args;
if (process.env.ENTGGUF_AB_CHILD) {
    const { getLlama } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: false, skipDownload: true,
        existingPrebuiltBinaryMustMatchBuildOptions: true, cmakeOptions: { ENTGGUF_BUILD_ID: ids[0] } });
    const m = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
    const ctx = await m.createContext({ contextSize: promptTokens + 64, batchSize: promptTokens, threads: Number(threads) });
    const prompt = Array.from({ length: promptTokens }, (_, i) => 10 + (i % 200));
    let n = 0, t1 = 0;
    const t0 = performance.now();
    for await (const _ of ctx.getSequence().evaluate(prompt, { temperature: 0 })) {
        if (n === 0) t1 = performance.now();  // the prompt's batch and the first token's sampling are done
        if (++n >= 33) break;
    }
    console.log(`${(promptTokens / ((t1 - t0) / 1000)).toFixed(2)} ${((n - 1) / ((performance.now() - t1) / 1000)).toFixed(2)}`);
} else {
    if (ids.length === 0 || !(promptTokens > 0)) {
        console.error("usage: node scripts/benchGenBuilds.mjs [--prompt <tokens>] <model.gguf> <threads> <rounds> <buildId> [<buildId> ...]");
        process.exit(2);
    }
    const runs = Object.fromEntries(ids.map((id) => [id, { prompt: [], gen: [] }]));
    for (let r = 0; r < Number(rounds); r++)
        for (const id of r % 2 ? [...ids].reverse() : ids) {
            const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), "--prompt", String(promptTokens), model, threads, rounds, id],
                { env: { ...process.env, ENTGGUF_AB_CHILD: "1" }, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
            const [p, g] = out.trim().split("\n").pop().split(" ").map(Number);
            runs[id].prompt.push(p);
            runs[id].gen.push(g);
        }
    const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    for (const id of ids)
        console.log(`${id}: prompt (${promptTokens} tokens) ${median(runs[id].prompt).toFixed(2)} tok/s (runs ${runs[id].prompt.join(", ")}), ` +
            `generation ${median(runs[id].gen).toFixed(2)} tok/s (runs ${runs[id].gen.join(", ")}), threads ${threads}`);
}
