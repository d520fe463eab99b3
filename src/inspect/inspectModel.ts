// What a GGUF holds: metadata, and per tensor its shape, type and size; for
// ENTQ streams also bits/weight, code kind, segments and (decoding them) the
// exact entropy of the codes, which also verifies checksum and payload.
import type { GgufValue } from "../gguf/GgufFileInfo.js";
import { ENTQ_GGML_TYPE, ggmlTypes } from "../gguf/ggmlTypes.js";
import { GgufValueType } from "../gguf/GgufValueType.js";
import { readGguf } from "../gguf/readGguf.js";
import { CodeKind, getNativeBinding } from "../native/binding.js";
import { EntqStreamError } from "../stream/EntqStreamError.js";

export interface InspectedStream {
    /** [K, N]; a 3-D weight's N counts all its experts' rows */
    shape: [number, number];
    /** a 3-D weight's experts (0: a matrix) */
    experts: number;
    /** per expert: its own bytes (segments, index entries, row scales) x 8 / its K x N / E weights */
    expertBitsPerWeight?: number[];
    codeKind: "e4m3" | "int8" | "custom";
    bitsPerWeight: number;
    /** Shannon entropy of the decoded codes (undefined without decoding) */
    entropyBits?: number;
    segments: number;
    symbols: number;
    probBits: number;
    formatVersion: number;
}

export interface InspectedTensor {
    name: string;
    /** as stored: ne[0], ne[1], ... */
    dims: number[];
    type: string;
    bytes: number;
    entq?: InspectedStream;
}

export interface InspectResult {
    file: string;
    version: number;
    fileBytes: number;
    metadata: Record<string, unknown>;
    tensors: InspectedTensor[];
    /** over the ENTQ tensors: bytes x 8 / elements */
    codedBitsPerWeight?: number;
    /** the whole file: its bytes x 8 / the elements of every tensor (an ENTQ tensor counts K x N) */
    fileBitsPerWeight: number;
}

/** Metadata values as plain JSON-able values; long arrays are summarised. */
function plainValue(v: GgufValue): unknown {
    if (v.type !== GgufValueType.ARRAY) return typeof v.value === "bigint" ? v.value.toString() : v.value;
    const items = v.items as ArrayLike<unknown>;
    if (items.length > 16) return `[${items.length} x ${GgufValueType[v.itemType].toLowerCase()}]`;
    return Array.from(items, (x) => (typeof x === "bigint" ? x.toString() : typeof x === "object" && x ? plainValue(x as GgufValue) : x));
}

const codeKinds = { [CodeKind.E4M3]: "e4m3", [CodeKind.INT8]: "int8", [CodeKind.Custom]: "custom" } as const;

export async function inspectModel(file: string, options: { decode?: boolean } = {}): Promise<InspectResult> {
    const reader = await readGguf(file);
    try {
        const { info } = reader;
        const native = getNativeBinding();
        const tensors: InspectedTensor[] = [];
        let codedBytes = 0;
        let codedElements = 0;
        for (const t of info.tensors) {
            const entry: InspectedTensor = { name: t.name, dims: [...t.dims], type: ggmlTypes.get(t.type)?.name ?? String(t.type), bytes: t.byteSize };
            if (t.type === ENTQ_GGML_TYPE) {
                const stream = await reader.readTensorData(t);
                try {
                    const s = native.streamInfo(stream);
                    const hist = options.decode === false ? undefined : await native.histogram(stream);
                    entry.entq = {
                        shape: [s.K, s.N],
                        experts: s.experts,
                        expertBitsPerWeight: s.expertBytes?.map((b) => (b * 8 * s.experts) / (s.K * s.N)),
                        codeKind: codeKinds[s.codeKind],
                        bitsPerWeight: (t.byteSize * 8) / (s.K * s.N),
                        entropyBits: hist?.entropyBits,
                        segments: s.segments,
                        symbols: s.symbols,
                        probBits: s.probBits,
                        formatVersion: s.version
                    };
                } catch (e) {
                    throw EntqStreamError.from(e, t.name, file); // typed, so callers tell a corrupt stream from a bad GGUF
                }
                codedBytes += t.byteSize;
                codedElements += entry.entq.shape[0] * entry.entq.shape[1];
            }
            tensors.push(entry);
        }
        return {
            file,
            version: info.version,
            fileBytes: info.fileSize,
            metadata: Object.fromEntries([...info.metadata].map(([k, v]) => [k, plainValue(v)])),
            tensors,
            codedBitsPerWeight: codedElements ? (codedBytes * 8) / codedElements : undefined,
            fileBitsPerWeight: (info.fileSize * 8) / tensors.reduce((a, t) => a + (t.entq ? t.entq.shape[0] * t.entq.shape[1] : t.dims.reduce((x, d) => x * d, 1)), 0)
        };
    } finally {
        await reader.close();
    }
}
