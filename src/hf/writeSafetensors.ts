// Writes a .safetensors file one tensor at a time (header first: every size is known
// from dtype and shape), to a temp file renamed when complete. Used to make Hugging
// Face folders for tests and benchmarks.
import fs from "node:fs/promises";

import { TempOutput } from "../gguf/TempOutput.js";

export type SafetensorsSpec = { readonly name: string; readonly dtype: "F32" | "F16" | "BF16"; readonly shape: readonly number[] };

const BYTES = { F32: 4, F16: 2, BF16: 2 } as const;

/** Writes `file` with `tensors` in order; data(i) gives tensor i's bytes (called once each, in order). */
export async function writeSafetensors(
    file: string,
    tensors: readonly SafetensorsSpec[],
    data: (index: number) => Uint8Array | Promise<Uint8Array>,
    metadata: Record<string, string> = { format: "pt" }
): Promise<void> {
    const header: Record<string, unknown> = { __metadata__: metadata };
    let offset = 0;
    const sizes = tensors.map((t) => t.shape.reduce((a, b) => a * b, 1) * BYTES[t.dtype]);
    tensors.forEach((t, i) => {
        header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + sizes[i]!] };
        offset += sizes[i]!;
    });
    // padded with spaces to a multiple of 8 bytes, as the reference writer does, so the data is aligned
    let json = Buffer.from(JSON.stringify(header), "utf8");
    json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, " ")]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));

    await TempOutput.removeStale(file);
    const temp = await TempOutput.open(file);
    try {
        let pos = 0;
        const write = async (buf: Uint8Array) => {
            for (let done = 0; done < buf.length;) done += (await temp.handle.write(buf, done, buf.length - done, pos + done)).bytesWritten;
            pos += buf.length;
        };
        await write(len);
        await write(json);
        for (let i = 0; i < tensors.length; i++) {
            const bytes = await data(i);
            if (bytes.length !== sizes[i]) throw new RangeError(`${file}: tensor "${tensors[i]!.name}" got ${bytes.length} bytes, its ${tensors[i]!.dtype} [${tensors[i]!.shape.join(", ")}] takes ${sizes[i]}`);
            await write(bytes);
        }
        await temp.handle.close();
        await fs.rename(temp.path, file);
        temp.done();
    } catch (e) {
        await temp.discard();
        throw e;
    }
}
