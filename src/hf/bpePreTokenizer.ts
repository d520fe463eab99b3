// tokenizer.ggml.pre for a byte-level BPE tokenizer.json. llama.cpp's converter finds it
// by hashing the Hugging Face tokenizer's output on a test string, which needs the
// `tokenizers` library; without Python we read the pre-tokenizer's rules instead and
// name the llama.cpp pre-tokenizer that implements the same rules (llama-vocab.cpp).

/** Split regexes of tokenizer.json and the llama.cpp pre-tokenizer that applies them. */
const SPLIT_REGEXES: Readonly<Record<string, string>> = {
    // Llama 3 (and 3.1/3.2): digits in runs of up to 3
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": "llama-bpe",
    // Qwen2, Qwen2.5, Qwen3: single digits
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+": "qwen2"
};

/** The recognised pre-tokenizers, for error messages. */
export const KNOWN_BPE_PRE_TOKENIZERS = "llama-bpe (Llama 3), qwen2 (Qwen2/2.5/3), smollm (SmolLM: Digits + ByteLevel), gpt-2 (ByteLevel alone)";

type Node = { type?: unknown; pretokenizers?: unknown; pattern?: { Regex?: unknown; String?: unknown }; individual_digits?: unknown; use_regex?: unknown };

/** The llama.cpp name of a tokenizer.json pre_tokenizer, or undefined when it matches none of ours. */
export function bpePreTokenizer(preTokenizer: unknown): string | undefined {
    const node = preTokenizer as Node | null | undefined;
    if (!node || typeof node !== "object") return undefined;
    const steps = (node.type === "Sequence" && Array.isArray(node.pretokenizers) ? node.pretokenizers : [node]) as Node[];
    const isByteLevel = (n: Node | undefined, useRegex: boolean) => n?.type === "ByteLevel" && (n.use_regex ?? true) === useRegex;
    if (steps.length === 1 && isByteLevel(steps[0], true)) return "gpt-2";
    if (steps.length !== 2) return undefined;
    const [first, second] = steps as [Node, Node];
    if (first.type === "Digits" && first.individual_digits === true && isByteLevel(second, true)) return "smollm";
    if (first.type === "Split" && typeof first.pattern?.Regex === "string" && isByteLevel(second, false)) return SPLIT_REGEXES[first.pattern.Regex];
    return undefined;
}
