// Asks an rpc-server for its protocol version (llama.cpp's HELLO) before llama.cpp connects to it, so a
// stock server, a dead address or a busy server is a clear error instead of an abort inside the addon.
import { connect } from "node:net";

/** entgguf's RPC protocol (patch 0009): upstream's major + 100, because GGML_TYPE_ENTQ tensors cross the wire. */
export const RPC_UPSTREAM_MAJOR_VERSION = 7;
export const RPC_PROTOCOL = { major: 100 + RPC_UPSTREAM_MAJOR_VERSION, minor: 0, patch: 0 } as const;

const RPC_CMD_HELLO = 14;
const RPC_CONN_CAPS_SIZE = 24;
const HELLO_RESPONSE_SIZE = 4 + RPC_CONN_CAPS_SIZE;

/** An RPC server cannot be used; the message names the endpoint and what to do. */
export class RpcServerError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "RpcServerError";
    }
}

export interface RpcVersion {
    major: number;
    minor: number;
    patch: number;
}

/** "host:port" with a port in 1..65535 (IPv6 hosts in brackets are not supported by llama.cpp's client). */
export function parseRpcEndpoint(endpoint: string): { host: string; port: number } {
    const m = /^([^:\s,]+):(\d{1,5})$/.exec(endpoint);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) throw new RpcServerError(`entgguf: RPC server '${endpoint}' is not host:port (e.g. 192.168.1.20:50052)`);
    return { host: m[1], port };
}

/** Sends HELLO and reads the version; rejects on refusal, silence (timeoutMs) or a malformed answer. */
function hello(host: string, port: number, timeoutMs: number): Promise<RpcVersion> {
    return new Promise((resolve, reject) => {
        const endpoint = `${host}:${port}`;
        const socket = connect({ host, port });
        let got = Buffer.alloc(0);
        const done = (e: Error | undefined, v?: RpcVersion) => {
            clearTimeout(timer);
            socket.destroy();
            if (e) reject(e);
            else resolve(v!);
        };
        const timer = setTimeout(
            () => done(new RpcServerError(`entgguf: RPC server ${endpoint} did not answer HELLO within ${timeoutMs} ms (not an rpc-server, or busy with another client: an rpc-server serves one client at a time)`)),
            timeoutMs
        );
        socket.on("connect", () => {
            const req = Buffer.alloc(1 + 8 + RPC_CONN_CAPS_SIZE); // command, request size, zeroed capabilities (plain TCP)
            req.writeUInt8(RPC_CMD_HELLO, 0);
            req.writeBigUInt64LE(BigInt(RPC_CONN_CAPS_SIZE), 1);
            socket.write(req);
        });
        socket.on("data", (chunk: Buffer) => {
            got = Buffer.concat([got, chunk]);
            if (got.length < 8) return;
            const size = got.readBigUInt64LE(0);
            if (size !== BigInt(HELLO_RESPONSE_SIZE)) return done(new RpcServerError(`entgguf: RPC server ${endpoint} answered HELLO with ${size} bytes, not ${HELLO_RESPONSE_SIZE}: not a llama.cpp rpc-server of a known protocol`));
            if (got.length < 8 + HELLO_RESPONSE_SIZE) return;
            done(undefined, { major: got[8], minor: got[9], patch: got[10] });
        });
        socket.on("error", (e: NodeJS.ErrnoException) =>
            done(new RpcServerError(`entgguf: cannot reach RPC server ${endpoint} (${e.code ?? e.message}); start it there with \`entgguf rpc-server --host <address> --port ${port}\``))
        );
        socket.on("close", () => done(new RpcServerError(`entgguf: RPC server ${endpoint} closed the connection during HELLO (a client speaking another protocol version?)`)));
    });
}

/** The protocol version an rpc-server answers HELLO with, whatever it is. */
export async function rpcHello(endpoint: string, options: { timeoutMs?: number } = {}): Promise<RpcVersion> {
    const { host, port } = parseRpcEndpoint(endpoint);
    return hello(host, port, options.timeoutMs ?? 10_000);
}

/**
 * Checks that an rpc-server speaks entgguf's protocol (one that knows GGML_TYPE_ENTQ) and returns its version.
 * The connection is closed before returning, so the server is free for llama.cpp's own.
 */
export async function checkRpcServer(endpoint: string, options: { timeoutMs?: number } = {}): Promise<RpcVersion> {
    const v = await rpcHello(endpoint, options);
    if (v.major !== RPC_PROTOCOL.major || v.minor > RPC_PROTOCOL.minor) {
        const ours = `${RPC_PROTOCOL.major}.${RPC_PROTOCOL.minor}.${RPC_PROTOCOL.patch}`;
        const theirs = `${v.major}.${v.minor}.${v.patch}`;
        throw new RpcServerError(
            v.major === RPC_UPSTREAM_MAJOR_VERSION
                ? `entgguf: RPC server ${endpoint} speaks stock llama.cpp's protocol ${theirs}, without GGML_TYPE_ENTQ (entgguf's coded weights; entgguf speaks ${ours}): run \`entgguf rpc-server\` there instead of llama.cpp's rpc-server`
                : `entgguf: RPC server ${endpoint} speaks protocol ${theirs}, entgguf ${ours}: run the same entgguf version on both machines`
        );
    }
    return v;
}
