/**
 * Reorders the rows of a q or k projection (weight rows, or bias elements with rowBytes = 4)
 * between Hugging Face's and llama.cpp's rope layouts. HF's rotate_half pairs row i with row
 * i + d/2 of each head; llama.cpp's rope (normal, not NEOX) pairs adjacent rows. "toGguf" is
 * llama.cpp's converter (LlamaModel.permute: reshape(heads, 2, d/2, K).swapaxes(1, 2)): per head,
 * [x0..x(d/2-1), y0..y(d/2-1)] -> [x0, y0, x1, y1, ...]; "toHf" undoes it.
 */
export function permuteQkRows(bytes: Uint8Array, heads: number, rowBytes: number, direction: "toGguf" | "toHf"): Uint8Array {
    const rows = bytes.length / rowBytes;
    const half = rows / heads / 2;
    if (!Number.isInteger(half)) throw new RangeError(`${rows} rows do not split into ${heads} heads of an even size`);
    const out = new Uint8Array(bytes.length);
    for (let h = 0; h < heads; h++)
        for (let i = 0; i < half; i++)
            for (let j = 0; j < 2; j++) {
                const hf = (h * 2 * half + j * half + i) * rowBytes;
                const gguf = (h * 2 * half + i * 2 + j) * rowBytes;
                const [from, to] = direction === "toGguf" ? [hf, gguf] : [gguf, hf];
                out.set(bytes.subarray(from, from + rowBytes), to);
            }
    return out;
}
