// Time per generated token, local vs over loopback RPC (issue 21; information only: on one machine the servers
// share its cores with the client, so this measures RPC's overhead, not a gain). A coded model (the shared 5M
// Llama at 3 bits when ../shared has it, else the repository's stories260K) through llama-bench (tg, batch 1):
//   local        every layer on this CPU (CPU layout)
//   local-rANS   the same with ENTGGUF_CPU_LAYOUT=0: the rANS path, the one an rpc-server runs
//   rpc          every layer on two `entgguf rpc-server`s on 127.0.0.1 (split by their free memory)
// in rounds that alternate the order. Prints ms/token per configuration and round, then medians and ratios.
// Usage: npm run bench:rpc [-- --tokens 32 --rounds 3 --threads 1]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { parseLlamaBenchOutput } from "../src/bench/parseLlamaBenchOutput.js";
import { convertModel } from "../src/convert/convertModel.js";
import { packageRoot } from "../src/native/binding.js";
import { buildLlamaTools } from "../src/runtime/buildLlamaTools.js";
import { freePort } from "../src/runtime/freePort.js";
import { startRpcServer, type RpcServerHandle } from "../src/runtime/startRpcServer.js";

const { values } = parseArgs({
    options: {
        tokens: { type: "string", default: "32" },
        rounds: { type: "string", default: "3" },
        threads: { type: "string", default: "1" }
    }
});
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);
const threads = Number(values.threads);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const tools = await buildLlamaTools();
const shared = join(packageRoot(), "..", "shared", "models", "small-llama-5m-f16.gguf");
const source = existsSync(shared) ? shared : join(packageRoot(), "models", "stories260K.gguf");
const dir = join(packageRoot(), ".cache", "bench");
mkdirSync(dir, { recursive: true });
const coded = join(dir, `rpc-${existsSync(shared) ? "5m" : "stories260K"}-3bit.gguf`);
if (!existsSync(coded)) await convertModel(source, coded, { bits: 3, progress: false });

const servers: RpcServerHandle[] = [];
const stopAll = () => Promise.all(servers.map((s) => s.stop()));
process.once("SIGINT", () => void stopAll().then(() => process.exit(130)));
try {
    for (let i = 0; i < 2; i++) servers.push(await startRpcServer({ port: await freePort(), threads, maxLifetimeS: 3600 }));
    const rpc = servers.map((s) => s.endpoint).join(",");
    const configs: { name: string; args: string[]; env?: NodeJS.ProcessEnv }[] = [
        { name: "local", args: ["-ngl", "0"] },
        { name: "local-rANS", args: ["-ngl", "0"], env: { ...process.env, ENTGGUF_CPU_LAYOUT: "0" } },
        { name: "rpc", args: ["--rpc", rpc, "-ngl", "99"] }
    ];
    console.log(`model ${coded}; ${tokens} generated tokens, ${threads} thread(s) client and each server; ${cpus().length} cores (${cpus()[0]?.model}), load ${loadavg()[0].toFixed(1)}`);
    const ms = new Map<string, number[]>(configs.map((c) => [c.name, []]));
    for (let r = 0; r < rounds; r++) {
        for (const c of r % 2 ? [...configs].reverse() : configs) {
            const out = execFileSync(tools.tools["llama-bench"], ["-m", coded, "-p", "0", "-n", String(tokens), "-t", String(threads), "-r", "2", "-o", "jsonl", ...c.args], {
                encoding: "utf8",
                env: c.env ?? process.env,
                stdio: ["ignore", "pipe", "ignore"],
                timeout: 600_000
            });
            const tg = parseLlamaBenchOutput(out).find((t) => t.kind === "tg");
            if (!tg) throw new Error(`llama-bench gave no tg result for ${c.name}`);
            ms.get(c.name)!.push(1000 / tg.mean);
            console.log(`round ${r + 1} ${c.name}: ${(1000 / tg.mean).toFixed(3)} ms/token`);
        }
    }
    const m = Object.fromEntries([...ms].map(([k, v]) => [k, median(v)]));
    for (const [k, v] of Object.entries(m)) console.log(`median ${k}: ${v.toFixed(3)} ms/token`);
    console.log(`rpc / local: ${(m.rpc / m.local).toFixed(2)}x; rpc / local-rANS: ${(m.rpc / m["local-rANS"]).toFixed(2)}x (load ${loadavg()[0].toFixed(1)} at the end)`);
} finally {
    await stopAll();
}
