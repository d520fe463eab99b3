// The reference twin of a coded model: every ENTQ stream replaced by its exact
// dequantised values in F32 (shape [K, N] from the stream's header, or
// [K, N / E, E] for a stream of E experts), all else
// copied byte for byte. Runtimes are checked against this model.
import { basename } from "node:path";

import type { GgufTensorSpec, GgufValue } from "../gguf/GgufFileInfo.js";
import { ENTQ_GGML_TYPE, GgmlType } from "../gguf/ggmlTypes.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import { readGguf } from "../gguf/readGguf.js";
import { writeGguf } from "../gguf/writeGguf.js";
import { getNativeBinding } from "../native/binding.js";
import { decodeStream } from "../stream/decodeStream.js";
import { EntqStreamError } from "../stream/EntqStreamError.js";
import { ENTQ_KEYS } from "./entqMetadata.js";

/** Writes `output`, the F32 reference of the coded model `input`; returns how many tensors were decoded. */
export async function dequantizeModel(input: string, output: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    const reader = await readGguf(input);
    try {
        const { info } = reader;
        const native = getNativeBinding();
        // shapes come from each stream's header (parse only: cheap)
        const specs: GgufTensorSpec[] = [];
        for (const t of info.tensors) {
            if (t.type !== ENTQ_GGML_TYPE) {
                specs.push({ name: t.name, type: t.type, dims: t.dims });
                continue;
            }
            const head = await reader.readTensorData(t, { length: Math.min(t.byteSize, native.fixedHeaderBytes) });
            let shape: { K: number; N: number; experts: number };
            try {
                shape = native.streamHeader(head);
            } catch (e) {
                throw EntqStreamError.from(e, t.name);
            }
            const { K, N, experts } = shape;
            specs.push({ name: t.name, type: GgmlType.F32, dims: experts ? [K, N / experts, experts] : [K, N] });
        }
        const metadata = new Map<string, GgufValue>([...info.metadata].filter(([k]) => !k.startsWith("entq.")));
        metadata.set(ENTQ_KEYS.referenceOf, { type: GgufValueType.STRING, value: basename(input) });
        let decoded = 0;
        await writeGguf(
            output,
            { version: info.version, metadata, tensors: specs },
            async (spec, i) => {
                const t = info.tensors[i]!;
                if (t.type !== ENTQ_GGML_TYPE) return reader.readTensorChunks(t);
                const [K, n, experts = 1] = spec.dims!;
                const N = n! * experts;
                const { values } = await decodeStream(await reader.readTensorData(t), "values", { K, N, tensor: t.name });
                decoded++;
                return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
            },
            { signal: options.signal }
        );
        return decoded;
    } finally {
        await reader.close();
    }
}
