// A loopback TCP port that was free a moment ago: for rpc-servers started by tests and benchmarks
// (llama.cpp's rpc-server takes a port number, not 0).
import { createServer } from "node:net";

export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = createServer();
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => {
            const { port } = s.address() as { port: number };
            s.close(() => resolve(port));
        });
    });
}
