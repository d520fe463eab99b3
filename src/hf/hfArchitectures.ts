// The Hugging Face architectures the converter maps, as llama.cpp's
// convert_hf_to_gguf.py maps them (conversion/llama.py, conversion/qwen.py in v0.5.0).

export type HfArchitecture = {
    /** config.json's architectures[0] */
    readonly hf: string;
    /** general.architecture of the GGUF */
    readonly gguf: "llama" | "qwen2" | "qwen3";
    /**
     * Llama-style checkpoints store q/k rows in the order of HF's rotate_half RoPE; llama.cpp's
     * llama rope (normal, not NEOX) pairs adjacent rows, so the converter reorders them
     * (LlamaModel.permute). Qwen models use NEOX rope in llama.cpp: no reordering.
     */
    readonly permuteQK: boolean;
    /** q/k RMS norms per head (Qwen3) */
    readonly qkNorm: boolean;
};

export const HF_ARCHITECTURES: readonly HfArchitecture[] = [
    { hf: "LlamaForCausalLM", gguf: "llama", permuteQK: true, qkNorm: false },
    { hf: "MistralForCausalLM", gguf: "llama", permuteQK: true, qkNorm: false },
    { hf: "Qwen2ForCausalLM", gguf: "qwen2", permuteQK: false, qkNorm: false },
    { hf: "Qwen3ForCausalLM", gguf: "qwen3", permuteQK: false, qkNorm: true }
];
