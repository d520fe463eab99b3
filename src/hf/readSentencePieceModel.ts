// The pieces of a SentencePiece tokenizer.model: a protobuf ModelProto whose field 1
// repeats SentencePiece { string piece = 1; float score = 2; Type type = 3 (default NORMAL) }.
// Only the pieces are needed (llama.cpp's converter reads nothing else); other fields
// (trainer and normalizer specs) are skipped by wire type.
import { HfInputError } from "./HfInputError.js";

/** SentencePiece's piece types (sentencepiece_model.proto), numbered as GGUF's token types. */
export enum SentencePieceType {
    NORMAL = 1,
    UNKNOWN = 2,
    CONTROL = 3,
    USER_DEFINED = 4,
    UNUSED = 5,
    BYTE = 6
}

export type SentencePiece = { readonly piece: string; readonly score: number; readonly type: SentencePieceType };

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function readSentencePieceModel(bytes: Uint8Array, file: string): SentencePiece[] {
    const bad = (problem: string) => new HfInputError("BAD_TOKENIZER", file, `not a SentencePiece model: ${problem}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

    /** Walks the fields of bytes[start, end), calling onField with the field number, wire type and the value's position. */
    function fields(start: number, end: number, onField: (field: number, wire: number, at: number, len: number) => void): void {
        let pos = start;
        const varint = (): number => {
            let v = 0;
            for (let shift = 0; ; shift += 7) {
                if (pos >= end) throw bad(`a varint runs past byte ${end}`);
                if (shift > 63) throw bad(`a varint at byte ${pos} is longer than 10 bytes`);
                const b = bytes[pos++]!;
                v += (b & 0x7f) * 2 ** shift;
                if (!(b & 0x80)) return v;
            }
        };
        while (pos < end) {
            const key = varint();
            const [field, wire] = [Math.floor(key / 8), key % 8];
            const at = pos;
            let len: number;
            if (wire === 0) {
                varint();
                len = pos - at;
            } else if (wire === 1) len = 8;
            else if (wire === 2) {
                len = varint();
                const valueAt = pos;
                if (valueAt + len > end) throw bad(`field ${field} at byte ${at} claims ${len} bytes past byte ${end}`);
                pos += len;
                onField(field, wire, valueAt, len);
                continue;
            } else if (wire === 5) len = 4;
            else throw bad(`unsupported wire type ${wire} at byte ${at}`);
            if (at + len > end) throw bad(`field ${field} at byte ${at} runs past byte ${end}`);
            if (wire !== 0) pos = at + len;
            onField(field, wire, at, len);
        }
    }

    const pieces: SentencePiece[] = [];
    fields(0, bytes.length, (field, wire, at, len) => {
        if (field !== 1 || wire !== 2) return;
        let piece: string | undefined;
        let score = 0;
        let type = SentencePieceType.NORMAL;
        fields(at, at + len, (f, w, a, l) => {
            if (f === 1 && w === 2) {
                try {
                    piece = utf8.decode(bytes.subarray(a, a + l));
                } catch {
                    throw bad(`piece #${pieces.length} is not valid UTF-8`);
                }
            } else if (f === 2 && w === 5) score = view.getFloat32(a, true);
            else if (f === 3 && w === 0) {
                let v = 0;
                for (let i = 0, shift = 0; i < l; i++, shift += 7) v += (bytes[a + i]! & 0x7f) * 2 ** shift;
                if (!(v in SentencePieceType)) throw bad(`piece #${pieces.length} has unknown type ${v}`);
                type = v;
            }
        });
        if (piece === undefined) throw bad(`piece #${pieces.length} has no text`);
        pieces.push({ piece, score, type });
    });
    if (pieces.length === 0) throw bad("it holds no pieces");
    return pieces;
}
