import { Command, InvalidArgumentError } from "commander";

import { startRpcServer } from "../../src/runtime/startRpcServer.js";

function port(v: string): number {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError("--port must be an integer in 1..65535");
    return n;
}

function positiveInt(v: string): number {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("--threads must be a positive integer");
    return n;
}

export function registerRpcServerCommand(program: Command): void {
    program
        .command("rpc-server")
        .description(
            "lend this machine's memory and cores to a client on another machine (`entgguf chat --rpc host:port`): llama.cpp's rpc-server, " +
                "patched for coded weights (built with `entgguf build --rpc`). No authentication, no encryption: trusted networks only"
        )
        .option("-H, --host <address>", "address to listen on; anything but 127.0.0.1 lets every machine that reaches it use (and crash) this server", "127.0.0.1")
        .option("-p, --port <n>", "port to listen on", port, 50052)
        .option("-t, --threads <n>", "threads of the CPU device (default: rpc-server's)", positiveInt)
        .option("-d, --device <list>", "devices to serve, comma-separated, e.g. CUDA0 (default: all)")
        .option("-c, --cache", "cache the tensors clients send in a local folder, so reloading a model is faster")
        .action(async (o: { host: string; port: number; threads?: number; device?: string; cache?: boolean }) => {
            if (o.host !== "127.0.0.1" && o.host !== "localhost")
                console.error(`[entgguf] rpc-server on ${o.host}:${o.port}: anyone who reaches this address can run graphs and read and write this server's buffers; only listen on a trusted network`);
            const server = await startRpcServer({
                host: o.host,
                port: o.port,
                threads: o.threads,
                devices: o.device?.split(",").map((d) => d.trim()).filter(Boolean),
                cache: o.cache,
                onLine: (line) => console.log(line)
            });
            console.error(`[entgguf] rpc-server ready on ${server.endpoint} (protocol ${server.version.major}.${server.version.minor}.${server.version.patch}); Ctrl-C stops it`);
            const stop = () => void server.stop();
            process.once("SIGINT", stop).once("SIGTERM", stop);
            const code = await server.exited;
            process.off("SIGINT", stop).off("SIGTERM", stop);
            if (code !== "SIGTERM" && code !== 0) process.exitCode = 1;
        });
}
