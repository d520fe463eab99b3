// checkRpcServer against fake servers on loopback: it speaks llama.cpp's HELLO byte for byte and turns every
// way a server can be wrong (stock protocol, another version, garbage, silence, nobody listening) into one clear error.
import { createServer, type Server, type Socket } from "node:net";

import { afterEach, describe, expect, it } from "vitest";

import { checkRpcServer, parseRpcEndpoint, RPC_PROTOCOL, RpcServerError } from "../../src/runtime/checkRpcServer.js";

const open: Server[] = [];

/** A server that records the request and answers with `respond(socket)` once it has `want` bytes. */
function fakeServer(respond: (s: Socket, request: Buffer) => void, want = 1 + 8 + 24): Promise<{ endpoint: string; requests: Buffer[] }> {
    const requests: Buffer[] = [];
    const server = createServer((s) => {
        let got = Buffer.alloc(0);
        s.on("data", (c: Buffer) => {
            got = Buffer.concat([got, c]);
            if (got.length === want) {
                requests.push(got);
                respond(s, got);
            }
        });
        s.on("error", () => {});
    });
    open.push(server);
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ endpoint: `127.0.0.1:${(server.address() as { port: number }).port}`, requests })));
}

function helloResponse(major: number, minor: number, patch: number, size = 28): Buffer {
    const b = Buffer.alloc(8 + 28);
    b.writeBigUInt64LE(BigInt(size), 0);
    b[8] = major;
    b[9] = minor;
    b[10] = patch;
    return b;
}

afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe("checkRpcServer", () => {
    it("sends HELLO (command 14, 24 zeroed capability bytes) and accepts entgguf's protocol", async () => {
        const { endpoint, requests } = await fakeServer((s) => s.write(helloResponse(RPC_PROTOCOL.major, 0, 0)));
        expect(await checkRpcServer(endpoint)).toEqual({ major: RPC_PROTOCOL.major, minor: 0, patch: 0 });
        expect(requests).toHaveLength(1);
        expect(requests[0][0]).toBe(14);
        expect(requests[0].readBigUInt64LE(1)).toBe(24n);
        expect(requests[0].subarray(9).every((b) => b === 0)).toBe(true);
    });

    it("refuses a stock server (major 7), naming both versions and the fix", async () => {
        const { endpoint } = await fakeServer((s) => s.write(helloResponse(7, 0, 0)));
        const e = await checkRpcServer(endpoint).catch((x: Error) => x);
        expect(e).toBeInstanceOf(RpcServerError);
        expect((e as Error).message).toBe(
            `entgguf: RPC server ${endpoint} speaks stock llama.cpp's protocol 7.0.0, without GGML_TYPE_ENTQ (entgguf's coded weights; entgguf speaks ${RPC_PROTOCOL.major}.0.0): run \`entgguf rpc-server\` there instead of llama.cpp's rpc-server`
        );
    });

    it("refuses another entgguf protocol (newer minor, other major)", async () => {
        for (const [major, minor] of [[RPC_PROTOCOL.major, 1], [108, 0]]) {
            const { endpoint } = await fakeServer((s) => s.write(helloResponse(major, minor, 0)));
            await expect(checkRpcServer(endpoint)).rejects.toThrow(`speaks protocol ${major}.${minor}.0, entgguf ${RPC_PROTOCOL.major}.0.0: run the same entgguf version on both machines`);
        }
    });

    it("refuses a malformed answer, a closed connection and silence (bounded)", async () => {
        const wrongSize = await fakeServer((s) => s.write(helloResponse(RPC_PROTOCOL.major, 0, 0, 16)));
        await expect(checkRpcServer(wrongSize.endpoint)).rejects.toThrow("answered HELLO with 16 bytes, not 28");
        const closes = await fakeServer((s) => s.destroy());
        await expect(checkRpcServer(closes.endpoint)).rejects.toThrow("closed the connection during HELLO");
        const silent = await fakeServer(() => {});
        const t0 = Date.now();
        await expect(checkRpcServer(silent.endpoint, { timeoutMs: 300 })).rejects.toThrow("did not answer HELLO within 300 ms");
        expect(Date.now() - t0).toBeLessThan(5000);
    });

    it("refuses an address nobody listens on, and an endpoint that is not host:port", async () => {
        const { endpoint } = await fakeServer(() => {});
        await new Promise((r) => open.pop()!.close(r));
        await expect(checkRpcServer(endpoint)).rejects.toThrow(`cannot reach RPC server ${endpoint} (ECONNREFUSED)`);
        for (const bad of ["localhost", "host:0", "host:65536", "a:1,b:2", ":50052"]) expect(() => parseRpcEndpoint(bad)).toThrow(`RPC server '${bad}' is not host:port`);
        expect(parseRpcEndpoint("192.168.1.20:50052")).toEqual({ host: "192.168.1.20", port: 50052 });
    });
});
