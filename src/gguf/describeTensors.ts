import type { GgufFileInfo } from "./GgufFileInfo.js";
import { ggmlTypes } from "./ggmlTypes.js";

/** One row of `entgguf inspect`'s tensor table. */
export type TensorSummary = {
    readonly name: string;
    /** ne[0], ne[1], ... as stored (an entq tensor is 1-D: its stream's byte count) */
    readonly shape: readonly number[];
    readonly type: number;
    /** ggml's type name, e.g. "f32", "q8_0", "entq" */
    readonly typeName: string;
    readonly byteSize: number;
    /** absolute position of its data in the file */
    readonly fileOffset: number;
};

/** The tensors of a read GGUF as inspect shows them, in file order. */
export function describeTensors(info: GgufFileInfo): TensorSummary[] {
    return info.tensors.map((t) => ({
        name: t.name,
        shape: t.dims,
        type: t.type,
        // readGguf refuses unknown types, so every tensor's type is in the table
        typeName: ggmlTypes.get(t.type)!.name,
        byteSize: t.byteSize,
        fileOffset: t.fileOffset
    }));
}
