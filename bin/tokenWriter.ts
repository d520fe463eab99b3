import type { LlamaModel, Token } from "node-llama-cpp";

/**
 * An onToken callback that writes a continuation of `prompt` to stdout. Each token is detokenised after
 * the ones before it (the prompt's included): alone, SentencePiece drops a word's leading space, so the
 * first word would stick to the prompt's last one ("littlegirl").
 */
export function tokenWriter(model: LlamaModel, prompt: string): (tokens: Token[]) => void {
    const before = model.tokenize(prompt);
    return (tokens) => {
        process.stdout.write(model.detokenize(tokens, false, before));
        before.push(...tokens);
    };
}
