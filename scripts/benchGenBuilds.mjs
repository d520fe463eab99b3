// Generation speed of one model under two (or more) patched llama.cpp builds,
// alternating builds each round so that drift from neighbouring jobs hits all
// alike: for A/B tests of kernel changes. Each run is its own process (only one
// llama.cpp build may be loaded per process). Build ids are the
// ENTGGUF_BUILD_ID values in node_modules/node-llama-cpp/llama/localBuilds/*/Release/_nlcBuildMetadata.json.
// Usage: node scripts/benchGenBuilds.mjs <model.gguf> <threads> <rounds> <buildId> [<buildId> ...]
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const [model, threads, rounds, ...ids] = process.argv.slice(2);
if (process.env.ENTGGUF_AB_CHILD) {
    const { getLlama } = await import("node-llama-cpp");
    const native = fileURLToPath(new URL("../native", import.meta.url));
    const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: false, skipDownload: true,
        existingPrebuiltBinaryMustMatchBuildOptions: true, cmakeOptions: { ENTGGUF_NATIVE_DIR: native, ENTGGUF_BUILD_ID: ids[0] } });
    const m = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
    const ctx = await m.createContext({ contextSize: 256, threads: Number(threads) });
    const prompt = Array.from({ length: 8 }, (_, i) => 10 + i);
    let n = 0, t1 = 0;
    for await (const _ of ctx.getSequence().evaluate(prompt, { temperature: 0 })) {
        if (n === 0) t1 = performance.now();  // from the first generated token: generation only
        if (++n >= 33) break;
    }
    console.log(((n - 1) / ((performance.now() - t1) / 1000)).toFixed(2));
} else {
    if (ids.length === 0) {
        console.error("usage: node scripts/benchGenBuilds.mjs <model.gguf> <threads> <rounds> <buildId> [<buildId> ...]");
        process.exit(2);
    }
    const runs = Object.fromEntries(ids.map((id) => [id, []]));
    for (let r = 0; r < Number(rounds); r++)
        for (const id of r % 2 ? [...ids].reverse() : ids) {
            const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), model, threads, rounds, id],
                { env: { ...process.env, ENTGGUF_AB_CHILD: "1" }, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
            runs[id].push(Number(out.trim().split("\n").pop()));
        }
    const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    for (const id of ids) console.log(`${id}: generation ${median(runs[id]).toFixed(2)} tok/s (median; runs ${runs[id].join(", ")}), threads ${threads}`);
}
