// Coded weights over llama.cpp's RPC backend (issue 21), loopback only: two `rpc-server`s on free 127.0.0.1 ports
// take some of the coded demo model's layers, the rest stay on this CPU; perplexity (llama-perplexity) and greedy
// tokens (node-llama-cpp through getEntLlama({ rpcServers })) must match a local run. A stock-like server (patch
// 0009's test-only ENTGGUF_RPC_TEST_STOCK_PROTOCOL=1) is refused at connect with a message naming the mismatch.
// Every server runs under `timeout` and is stopped in afterAll, so none outlives the test, also when it fails.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { LlamaCompletion, LlamaLogLevel } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { parsePerplexityOutput } from "../../src/bench/parsePerplexityOutput.js";
import { runTool } from "../../src/bench/runTool.js";
import { convertModel } from "../../src/convert/convertModel.js";
import { buildLlamaTools, type LlamaTools } from "../../src/runtime/buildLlamaTools.js";
import { checkRpcServer, RPC_PROTOCOL, rpcHello } from "../../src/runtime/checkRpcServer.js";
import { freePort } from "../../src/runtime/freePort.js";
import { getEntLlama } from "../../src/runtime/getEntLlama.js";
import { startRpcServer, type RpcServerHandle } from "../../src/runtime/startRpcServer.js";
import { demoModel, repoRoot } from "../helpers/sharedData.js";

const TOOLS_BUILD_TIMEOUT_MS = 40 * 60_000; // a first tools build: ~12 minutes on 2 busy cores
const SERVER_LIFETIME_S = 900; // no server outlives this, whatever happens to the test process
const TOOL_TIMEOUT_MS = 180_000;
// stories260K has 5 layers + the output layer: the last 4 of those 6 go to the two servers (split by their free
// memory), layers 0-1 stay on this CPU
const RPC_LAYERS = 4;

// a short story, repeated to give llama-perplexity two 128-token chunks
const STORY =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. One day, she saw a big red ball " +
    "in the park. She ran to the ball and kicked it high into the sky. Her friend Tom came to play with her. They laughed and played " +
    "all day long. When the sun went down, Lily went home to her mom. She was tired but happy.\n";

describe("coded model over RPC (two loopback rpc-servers + this CPU)", () => {
    let dir: string;
    let tools: LlamaTools;
    let coded: string;
    let text: string;
    const servers: RpcServerHandle[] = [];
    let endpoints: string[] = [];

    beforeAll(async () => {
        tools = await buildLlamaTools();
        // the RPC build of the binding (its own build id), made in a child process: loading it here would
        // register llama.cpp's devices before getEntLlama({ rpcServers }) can add the servers (once per process)
        const build = spawnSync(process.execPath, [join(repoRoot, "dist", "bin", "entgguf.js"), "build", "--rpc"], { encoding: "utf8", stdio: ["ignore", "inherit", "pipe"] });
        expect(build.status, build.stderr.slice(-4000)).toBe(0);
        dir = mkdtempSync(join(tmpdir(), "entgguf-rpc-"));
        coded = join(dir, "stories260K-3bit.gguf");
        await convertModel(demoModel, coded, { bits: 3, progress: false });
        text = join(dir, "story.txt");
        writeFileSync(text, STORY.repeat(8));
        for (let i = 0; i < 2; i++) servers.push(await startRpcServer({ port: await freePort(), threads: 1, maxLifetimeS: SERVER_LIFETIME_S, toolsBuild: "never" }));
        endpoints = servers.map((s) => s.endpoint);
    }, TOOLS_BUILD_TIMEOUT_MS);

    afterAll(async () => {
        await Promise.all(servers.map((s) => s.stop()));
        if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("servers speak entgguf's protocol", async () => {
        for (const s of servers) expect(await checkRpcServer(s.endpoint)).toEqual(RPC_PROTOCOL);
    });

    // llama-perplexity, -ngl 0 here vs RPC_LAYERS layers on the servers; `layout` false: ENTGGUF_CPU_LAYOUT=0 on the
    // client, so its layers take the rANS path as the servers' do (they hold plain buffers: DESIGN, "RPC")
    const perplexity = async (name: string, layout: boolean, extra: string[]) => {
        const before = process.env.ENTGGUF_CPU_LAYOUT;
        if (!layout) process.env.ENTGGUF_CPU_LAYOUT = "0";
        try {
            const { output } = await runTool(
                tools.tools["llama-perplexity"],
                ["-m", coded, "-f", text, "-c", "128", "-b", "128", "-t", "1", "-v", ...extra],
                join(dir, `${name}.log`),
                { signal: AbortSignal.timeout(TOOL_TIMEOUT_MS) }
            );
            return { ...parsePerplexityOutput(output), output };
        } finally {
            if (before === undefined) delete process.env.ENTGGUF_CPU_LAYOUT;
            else process.env.ENTGGUF_CPU_LAYOUT = before;
        }
    };
    const rpcArgs = () => ["--rpc", endpoints.join(","), "-ngl", String(RPC_LAYERS)];

    it("perplexity split across both servers and this CPU equals the local run on the same (rANS) path", async () => {
        const local = await perplexity("local-rans", false, ["-ngl", "0"]);
        const rpc = await perplexity("rpc-rans", false, rpcArgs());
        // layers on both servers and on this CPU (llama.cpp's -v load report: "using device RPC0 (host:port)",
        // "layer 3 assigned to device RPC0")
        const placed = (device: string) => [...new Set([...rpc.output.matchAll(new RegExp(`layer +(\\d+) assigned to device ${device},`, "g"))].map((m) => Number(m[1])))];
        const layers: Record<string, number[]> = { CPU: placed("CPU") };
        for (const e of endpoints) {
            const dev = new RegExp(`using device (RPC\\d+) \\(${e.replace(/\./g, "\\.")}\\)`).exec(rpc.output)?.[1];
            expect(dev, `${e} is not a device`).toBeDefined();
            layers[e] = placed(dev!);
            expect(layers[e].length, `no layer on ${e}`).toBeGreaterThan(0);
        }
        expect(layers.CPU.length).toBeGreaterThan(0);
        console.log(`stories260K at 3 bits, ${local.chunks} x ${local.nCtx} tokens, rANS path: PPL ${local.ppl.value} local, ${rpc.ppl.value} over RPC (layers ${JSON.stringify(layers)}; 5 = output)`);
        expect(rpc.chunks).toBe(local.chunks);
        expect(local.chunks).toBeGreaterThanOrEqual(2);
        expect(rpc.ppl.value).toBe(local.ppl.value);
    }, 2 * TOOL_TIMEOUT_MS);

    it("with the client's CPU layout, perplexity over RPC is within 0.5% of the local run's", async () => {
        const local = await perplexity("local-layout", true, ["-ngl", "0"]);
        const rpc = await perplexity("rpc-layout", true, rpcArgs());
        expect(local.output).toMatch(/entq: CPU layout: \d+ of \d+/);
        const rel = Math.abs(rpc.ppl.value - local.ppl.value) / local.ppl.value;
        console.log(`CPU layout here: PPL ${local.ppl.value} local, ${rpc.ppl.value} over RPC: ${(rel * 100).toFixed(3)}% apart`);
        expect(rel).toBeLessThan(0.005);
    }, 2 * TOOL_TIMEOUT_MS);

    it("a stock-like server is refused at connect, by entgguf and by llama.cpp's client, with the mismatch named", async () => {
        const env = { ...process.env, ENTGGUF_RPC_TEST_STOCK_PROTOCOL: "1" };
        const port = await freePort();
        // entgguf's own start refuses it (and stops it)
        await expect(startRpcServer({ port, env, maxLifetimeS: SERVER_LIFETIME_S, toolsBuild: "never" })).rejects.toThrow(
            `RPC server 127.0.0.1:${port} speaks stock llama.cpp's protocol 7.0.0, without GGML_TYPE_ENTQ`
        );
        const stock = await startRpcServer({ port: await freePort(), env, requireEntqProtocol: false, maxLifetimeS: SERVER_LIFETIME_S, toolsBuild: "never" });
        servers.push(stock);
        expect(stock.version.major).toBe(7);
        await expect(checkRpcServer(stock.endpoint)).rejects.toThrow(/stock llama\.cpp's protocol 7\.0\.0.*run `entgguf rpc-server` there/);
        // llama.cpp's client (patch 0009's message) gives up at the handshake, before reading the model
        const r = spawnSync(tools.tools["llama-perplexity"], ["-m", coded, "-f", text, "-c", "128", "--rpc", stock.endpoint, "-ngl", "99"], {
            encoding: "utf8",
            timeout: TOOL_TIMEOUT_MS
        });
        const out = `${r.stdout}${r.stderr}`;
        expect(r.status === 0 && r.signal === null).toBe(false);
        expect(out).toContain(`RPC server version mismatch: the server speaks protocol 7.0.0, this client ${RPC_PROTOCOL.major}.0.0`);
        expect(out).toContain("stock llama.cpp rpc-server without GGML_TYPE_ENTQ");
        expect(out).not.toMatch(/load_tensors/);
        // the refused server is still up and serving: the refusal was the client's, at connect
        expect((await rpcHello(stock.endpoint)).major).toBe(7);
    }, 2 * TOOL_TIMEOUT_MS);

    it("node-llama-cpp (getEntLlama({ rpcServers })): greedy tokens over RPC equal the local run's", async () => {
        const logs: string[] = [];
        const llama = await getEntLlama({ rpcServers: endpoints, logLevel: LlamaLogLevel.info, logger: (_level, message) => void logs.push(message) });
        expect(await llama.getGpuDeviceNames()).toEqual(expect.arrayContaining(endpoints));
        const greedy = async (gpuLayers: number) => {
            const model = await llama.loadModel({ modelPath: coded, gpuLayers });
            const context = await model.createContext({ contextSize: 256 });
            try {
                const tokens: number[] = [];
                const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
                const textOut = await completion.generateCompletion("Once upon a time, there was a little", {
                    maxTokens: 40,
                    temperature: 0,
                    onToken: (t) => void tokens.push(...t)
                });
                return { tokens, text: textOut };
            } finally {
                await context.dispose();
                await model.dispose();
            }
        };
        const local = await greedy(0);
        logs.length = 0;
        const rpc = await greedy(RPC_LAYERS);
        for (const e of endpoints) expect(logs.join("\n")).toContain(`[${e}] model buffer size`);
        console.log(`greedy, 40 tokens: local "${local.text}"; over RPC ${rpc.tokens.length === local.tokens.length && rpc.tokens.every((t, i) => t === local.tokens[i]) ? "identical" : `"${rpc.text}"`}`);
        expect(local.tokens.length).toBe(40);
        expect(rpc.tokens).toEqual(local.tokens);
    }, 2 * TOOL_TIMEOUT_MS);
});
