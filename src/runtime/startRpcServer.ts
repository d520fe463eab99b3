// Runs the patched llama.cpp rpc-server (from the tools build) and waits until it answers HELLO.
import { spawn, type ChildProcess } from "node:child_process";

import { buildLlamaTools } from "./buildLlamaTools.js";
import { checkRpcServer, rpcHello, RpcServerError, type RpcVersion } from "./checkRpcServer.js";

export interface StartRpcServerOptions {
    /** address to listen on (default 127.0.0.1); anything else exposes the machine: trusted networks only */
    host?: string;
    port: number;
    /** CPU threads of the server's CPU device (default: rpc-server's) */
    threads?: number;
    /** devices to serve, e.g. ["CUDA0"] (default: rpc-server's, all) */
    devices?: string[];
    /** rpc-server -c: cache tensors sent to it on local disk, so a reload is faster */
    cache?: boolean;
    /** build the tools when missing (default "auto") or fail ("never") */
    toolsBuild?: "auto" | "never";
    /** how long to wait for the server to answer HELLO (default 60 s) */
    readyTimeoutMs?: number;
    /** false: accept any protocol version (tests of a stock-like server); default true: entgguf's, or stop it and throw */
    requireEntqProtocol?: boolean;
    /** stop the server after this many seconds even if this process dies first (coreutils `timeout`; not on Windows) */
    maxLifetimeS?: number;
    /** environment of the server process (default: this process's) */
    env?: NodeJS.ProcessEnv;
    /** each line the server prints (default: dropped) */
    onLine?: (line: string) => void;
    log?: (message: string) => void;
}

export interface RpcServerHandle {
    endpoint: string;
    version: RpcVersion;
    process: ChildProcess;
    /** resolves with the exit code (or signal) once the server has stopped */
    exited: Promise<number | NodeJS.Signals>;
    /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone */
    stop(): Promise<void>;
}

/** Starts `rpc-server` and resolves once it speaks entgguf's protocol; a server that exits or stays silent is stopped and reported. */
export async function startRpcServer(options: StartRpcServerOptions): Promise<RpcServerHandle> {
    const host = options.host ?? "127.0.0.1";
    const endpoint = `${host}:${options.port}`;
    const tools = await buildLlamaTools({ build: options.toolsBuild ?? "auto", log: options.log });
    const args = ["--host", host, "--port", String(options.port)];
    if (options.threads !== undefined) args.push("--threads", String(options.threads));
    if (options.devices?.length) args.push("--device", options.devices.join(","));
    if (options.cache) args.push("--cache");

    const bounded = options.maxLifetimeS !== undefined && process.platform !== "win32";
    const [exe, exeArgs] = bounded
        ? ["timeout", ["-k", "5", String(options.maxLifetimeS), tools.tools["ggml-rpc-server"], ...args]]
        : [tools.tools["ggml-rpc-server"], args];
    const child = spawn(exe, exeArgs, { stdio: ["ignore", "pipe", "pipe"], env: options.env ?? process.env });
    const tail: string[] = [];
    const onText = (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n")) {
            if (!line) continue;
            tail.push(line);
            if (tail.length > 20) tail.shift();
            options.onLine?.(line);
        }
    };
    child.stdout!.on("data", onText);
    child.stderr!.on("data", onText);
    const exited = new Promise<number | NodeJS.Signals>((resolve) => {
        child.once("exit", (code, signal) => resolve(signal ?? code ?? 0));
        child.once("error", (e) => {
            tail.push(`cannot run ${exe}: ${e.message}`);
            resolve(-1);
        });
    });
    let exitedWith: number | NodeJS.Signals | undefined;
    void exited.then((c) => (exitedWith = c));
    const stop = async () => {
        if (exitedWith !== undefined) return;
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(killer);
    };

    const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
    for (;;) {
        if (exitedWith !== undefined)
            throw new RpcServerError(`entgguf: rpc-server on ${endpoint} exited (${exitedWith}) before it was ready:\n${tail.join("\n")}`);
        try {
            const timeoutMs = Math.max(1000, Math.min(5000, deadline - Date.now()));
            const version = options.requireEntqProtocol === false ? await rpcHello(endpoint, { timeoutMs }) : await checkRpcServer(endpoint, { timeoutMs });
            return { endpoint, version, process: child, exited, stop };
        } catch (e) {
            // not listening yet: try again until the deadline; a wrong protocol will not fix itself
            const notYet = /cannot reach/.test((e as Error).message);
            if (!notYet || Date.now() > deadline) {
                await stop();
                throw notYet ? new RpcServerError(`entgguf: rpc-server on ${endpoint} did not start listening within ${options.readyTimeoutMs ?? 60_000} ms:\n${tail.join("\n")}`) : e;
            }
            await new Promise((r) => setTimeout(r, 200));
        }
    }
}
