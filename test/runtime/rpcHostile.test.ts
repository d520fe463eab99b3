// A hostile RPC client against `entgguf rpc-server` (patch 0009, issue 21): the server computes whatever graph it
// is sent without asking supports_op, and ggml_nbytes of a GGML_TYPE_ENTQ tensor is nb[3] whatever ne says, so
// an ENTQ tensor with a large ne passes the server's bounds checks. Here the client speaks llama.cpp's wire format
// itself (ggml-rpc.cpp of the bundled release) and checks that
//  - a graph using an ENTQ tensor in an op the CPU backend does not support for it (DUP of 1 MiB out of a 4 KiB
//    buffer) is refused: the connection is closed, the server logs why and keeps serving;
//  - the same graph on F32 tensors inside the buffer is computed (the refusal is about the coded tensor);
//  - a CPU_ENTQ record (magic + raw pointer) written by the client into a plain buffer is not followed: the kernel
//    parses the bytes as a stream and stops the server with a message naming the tensor (an abort, not a read
//    through the client's pointer).
import { connect, type Socket } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { buildLlamaTools } from "../../src/runtime/buildLlamaTools.js";
import { rpcHello } from "../../src/runtime/checkRpcServer.js";
import { freePort } from "../../src/runtime/freePort.js";
import { startRpcServer, type RpcServerHandle } from "../../src/runtime/startRpcServer.js";

const TOOLS_BUILD_TIMEOUT_MS = 40 * 60_000;
const SERVER_LIFETIME_S = 600;

// ggml-rpc.cpp's enum rpc_cmd and ggml.h's enums in the bundled release
const CMD = { ALLOC_BUFFER: 0, BUFFER_GET_BASE: 3, SET_TENSOR: 6, GET_TENSOR: 8, GRAPH_COMPUTE: 10, HELLO: 14, DEVICE_COUNT: 15 } as const;
const TYPE_F32 = 0;
const TYPE_ENTQ = 100;
const OP = { NONE: 0, DUP: 1, MUL_MAT: 29 } as const;
const RPC_TENSOR_SIZE = 296; // packed struct rpc_tensor with GGML_MAX_SRC 10, GGML_MAX_NAME 64

interface WireTensor {
    id: bigint;
    type: number;
    buffer: bigint;
    ne: number[];
    nb: number[];
    op: number;
    /** GGML_TENSOR_FLAG_COMPUTE (16) on op nodes: ggml-cpu skips nodes without it */
    flags?: number;
    src?: bigint[];
    data: bigint;
    name: string;
}

function packTensor(t: WireTensor): Buffer {
    const b = Buffer.alloc(RPC_TENSOR_SIZE);
    let o = 0;
    b.writeBigUInt64LE(t.id, o), (o += 8);
    b.writeUInt32LE(t.type, o), (o += 4);
    b.writeBigUInt64LE(t.buffer, o), (o += 8);
    for (let i = 0; i < 4; i++) b.writeUInt32LE(t.ne[i], o), (o += 4);
    for (let i = 0; i < 4; i++) b.writeUInt32LE(t.nb[i], o), (o += 4);
    b.writeUInt32LE(t.op, o), (o += 4);
    o += 64; // op_params
    b.writeInt32LE(t.flags ?? (t.op === OP.NONE ? 0 : 16), o), (o += 4);
    for (let i = 0; i < 10; i++) b.writeBigUInt64LE(t.src?.[i] ?? 0n, o), (o += 8);
    o += 8 + 8; // view_src, view_offs
    b.writeBigUInt64LE(t.data, o), (o += 8);
    b.write(t.name, o, 63, "utf8"), (o += 64);
    b.writeInt32LE(0, o); // use_count
    return b;
}

/** One client connection: requests | cmd u8 | size u64 | data |, responses | size u64 | data |. */
class RpcClient {
    private buf = Buffer.alloc(0);
    private waiters: (() => void)[] = [];
    closed = false;
    private constructor(private sock: Socket) {
        sock.on("data", (c: Buffer) => {
            this.buf = Buffer.concat([this.buf, c]);
            this.waiters.splice(0).forEach((w) => w());
        });
        sock.on("close", () => {
            this.closed = true;
            this.waiters.splice(0).forEach((w) => w());
        });
        sock.on("error", () => {});
    }
    static open(endpoint: string): Promise<RpcClient> {
        const [host, port] = endpoint.split(":");
        return new Promise((resolve, reject) => {
            const s = connect({ host, port: Number(port) }, () => resolve(new RpcClient(s)));
            s.once("error", reject);
        });
    }
    send(cmd: number, data: Buffer): void {
        const h = Buffer.alloc(9);
        h.writeUInt8(cmd, 0);
        h.writeBigUInt64LE(BigInt(data.length), 1);
        this.sock.write(Buffer.concat([h, data]));
    }
    /** The next response's bytes, or undefined if the server closed the connection first (bounded). */
    async recv(timeoutMs = 20_000): Promise<Buffer | undefined> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            if (this.buf.length >= 8) {
                const n = Number(this.buf.readBigUInt64LE(0));
                if (this.buf.length >= 8 + n) {
                    const r = this.buf.subarray(8, 8 + n);
                    this.buf = this.buf.subarray(8 + n);
                    return r;
                }
            }
            if (this.closed) return undefined;
            if (Date.now() > deadline) throw new Error("no response from the RPC server");
            await new Promise<void>((r) => {
                this.waiters.push(r);
                setTimeout(r, 200);
            });
        }
    }
    async call(cmd: number, data: Buffer): Promise<Buffer | undefined> {
        this.send(cmd, data);
        return this.recv();
    }
    close(): void {
        this.sock.destroy();
    }
    /** HELLO, then a buffer of `size` bytes on device 0: its remote pointer and base address. */
    static async withBuffer(endpoint: string, size: number): Promise<{ c: RpcClient; buffer: bigint; base: bigint }> {
        const c = await RpcClient.open(endpoint);
        expect((await c.call(CMD.HELLO, Buffer.alloc(24)))?.[0]).toBe(107);
        const req = Buffer.alloc(12);
        req.writeUInt32LE(0, 0);
        req.writeBigUInt64LE(BigInt(size), 4);
        const alloc = (await c.call(CMD.ALLOC_BUFFER, req))!;
        const buffer = alloc.readBigUInt64LE(0);
        const p = Buffer.alloc(8);
        p.writeBigUInt64LE(buffer, 0);
        const base = (await c.call(CMD.BUFFER_GET_BASE, p))!.readBigUInt64LE(0);
        return { c, buffer, base };
    }
    /** SET_TENSOR: `data` at the tensor's start (no cache flag, offset 0); no response */
    setTensor(t: WireTensor, data: Buffer): void {
        this.send(CMD.SET_TENSOR, Buffer.concat([packTensor(t), Buffer.alloc(1 + 8), data]));
    }
    /** GET_TENSOR: `size` bytes from the tensor's start */
    async getTensor(t: WireTensor, size: number): Promise<Buffer | undefined> {
        const req = Buffer.alloc(16);
        req.writeBigUInt64LE(BigInt(size), 8);
        return this.call(CMD.GET_TENSOR, Buffer.concat([packTensor(t), req]));
    }
    /** GRAPH_COMPUTE on device 0: no response; a DEVICE_COUNT after it answers only if the server kept the connection. */
    async computeThenAlive(nodes: bigint[], tensors: WireTensor[]): Promise<boolean> {
        const head = Buffer.alloc(8 + 8 * nodes.length + 4);
        head.writeUInt32LE(0, 0);
        head.writeUInt32LE(nodes.length, 4);
        nodes.forEach((n, i) => head.writeBigUInt64LE(n, 8 + 8 * i));
        head.writeUInt32LE(tensors.length, 8 + 8 * nodes.length);
        this.send(CMD.GRAPH_COMPUTE, Buffer.concat([head, ...tensors.map(packTensor)]));
        return (await this.call(CMD.DEVICE_COUNT, Buffer.alloc(0))) !== undefined;
    }
}

describe("rpc-server against a hostile client (coded tensors)", () => {
    const servers: RpcServerHandle[] = [];
    const lines: string[] = [];
    let server: RpcServerHandle;

    beforeAll(async () => {
        await buildLlamaTools();
        server = await startRpcServer({ port: await freePort(), threads: 1, maxLifetimeS: SERVER_LIFETIME_S, toolsBuild: "never", onLine: (l) => void lines.push(l) });
        servers.push(server);
    }, TOOLS_BUILD_TIMEOUT_MS);

    afterAll(async () => {
        await Promise.all(servers.map((s) => s.stop()));
    });

    it("computes a DUP of F32 tensors inside the buffer, refuses the same DUP of an ENTQ tensor whose ne reaches past it", async () => {
        const { c, buffer, base } = await RpcClient.withBuffer(server.endpoint, 4096);
        const f32 = (id: bigint, op: number, data: bigint, src?: bigint[]): WireTensor => ({ id, type: TYPE_F32, buffer, ne: [16, 1, 1, 1], nb: [4, 64, 64, 64], op, src, data, name: `f${id}` });
        const values = Buffer.alloc(64);
        for (let i = 0; i < 16; i++) values.writeFloatLE(i + 0.5, 4 * i);
        c.setTensor(f32(1n, OP.NONE, base), values);
        expect(await c.computeThenAlive([2n], [f32(1n, OP.NONE, base), f32(2n, OP.DUP, base + 1024n, [1n])])).toBe(true);
        expect(await c.getTensor(f32(2n, OP.DUP, base + 1024n, [1n]), 64)).toEqual(values); // it was computed
        c.close();

        const h = await RpcClient.withBuffer(server.endpoint, 4096);
        // ggml_nbytes = nb[3] = 16 passes the bounds check; ne says 1 MiB
        const entq = (id: bigint, op: number, data: bigint, src?: bigint[]): WireTensor => ({ id, type: TYPE_ENTQ, buffer: h.buffer, ne: [1 << 20, 1, 1, 1], nb: [1, 1 << 20, 1 << 20, 16], op, src, data, name: `hostile${id}` });
        expect(await h.c.computeThenAlive([2n], [entq(1n, OP.NONE, h.base), entq(2n, OP.DUP, h.base + 2048n, [1n])])).toBe(false);
        h.c.close();
        await expect.poll(() => lines.join("\n"), { timeout: 5000 }).toMatch(/refusing graph: node 'hostile2' \(DUP\) on a GGML_TYPE_ENTQ tensor is not supported by CPU/);
        expect((await rpcHello(server.endpoint)).major).toBe(107); // still serving
    }, 60_000);

    it("does not follow a CPU_ENTQ record's pointer written into a plain buffer: stops with the tensor named", async () => {
        const { c, buffer, base } = await RpcClient.withBuffer(server.endpoint, 4096);
        // "ETQW", is_layout = 1, data = an address nothing maps, bytes = 64
        const rec = Buffer.alloc(24);
        rec.writeUInt32LE(0x57515445, 0);
        rec.writeUInt32LE(1, 4);
        rec.writeBigUInt64LE(0xdead0000000n, 8);
        rec.writeBigUInt64LE(64n, 16);
        const w: WireTensor = { id: 1n, type: TYPE_ENTQ, buffer, ne: [64, 4, 1, 1], nb: [0, 0, 0, 64], op: OP.NONE, data: base, name: "w" };
        c.setTensor(w, Buffer.concat([rec, Buffer.alloc(64 - rec.length)]));
        const x: WireTensor = { id: 2n, type: TYPE_F32, buffer, ne: [64, 1, 1, 1], nb: [4, 256, 256, 256], op: OP.NONE, data: base + 1024n, name: "x" };
        const y: WireTensor = { id: 3n, type: TYPE_F32, buffer, ne: [4, 1, 1, 1], nb: [4, 16, 16, 16], op: OP.MUL_MAT, src: [1n, 2n], data: base + 2048n, name: "y" };
        expect(await c.computeThenAlive([3n], [w, x, y])).toBe(false);
        c.close();
        const code = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r("running"), 20_000))]);
        const log = lines.join("\n");
        expect(code, log).not.toBe("running");
        expect(log).toMatch(/entq: tensor 'w': /);
        console.log(`server stopped (${String(code)}): ${log.split("\n").find((l) => /entq: tensor 'w'/.test(l))}`);
        expect(log).not.toMatch(/Segmentation fault|SIGSEGV/);
    }, 60_000);
});
