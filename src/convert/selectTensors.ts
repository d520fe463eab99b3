// Which tensors the converter codes (GUIDE §2.7): every large weight a user
// pays for, the blocks' linear weights and mixture-of-experts stacks, the
// output head and the token embeddings (read by GET_ROWS, which decodes only
// the rows asked for); norms, biases, routers (ffn_gate_inp) and shared
// experts keep their type unless included. The choice is by name pattern, so
// any architecture works.

/** Linear weights of the blocks, in llama.cpp's tensor names. */
export const DEFAULT_CODED_PATTERNS = [
    "blk.*.attn_q.weight",
    "blk.*.attn_k.weight",
    "blk.*.attn_v.weight",
    "blk.*.attn_qkv.weight",
    "blk.*.attn_output.weight",
    "blk.*.ffn_gate.weight",
    "blk.*.ffn_up.weight",
    "blk.*.ffn_down.weight",
    // mixture-of-experts: 3-D [K, N, n_expert], multiplied through MUL_MAT_ID
    "blk.*.ffn_gate_exps.weight",
    "blk.*.ffn_up_exps.weight",
    "blk.*.ffn_down_exps.weight",
    "blk.*.ffn_gate_up_exps.weight"
];

/** The output head: in small models the largest single matrix. */
export const OUTPUT_HEAD_PATTERN = "output.weight";

/** The token embeddings (in tied models also the output head). */
export const EMBEDDINGS_PATTERN = "token_embd.weight";

export interface TensorSelectionOptions {
    /** glob patterns (`*` any run of characters, `?` one); replace the blocks' default patterns when given */
    include?: string[];
    /** glob patterns removed from the selection */
    exclude?: string[];
    /** code output.weight (default true) */
    outputHead?: boolean;
    /** code token_embd.weight (default true) */
    embeddings?: boolean;
}

export interface TensorCandidate {
    name: string;
    /** ggml order: dims[0] is the row length K */
    dims: number[];
    /** whether the converter can read this tensor's type as weights */
    readable: boolean;
}

export interface TensorChoice {
    name: string;
    code: boolean;
    /** why a matching tensor is kept as it is */
    reason?: string;
}

/** The most experts a stream's header can hold (a u16). */
export const MAX_EXPERTS = 65535;

/**
 * A coded tensor's stream shape: K, all its rows N (a 3-D [K, n, E] weight's E experts' n rows one after
 * another), and experts E (0 for a matrix).
 */
export function codedShape(dims: readonly number[]): { K: number; N: number; experts: number } {
    const experts = dims.length >= 3 && dims[2]! > 1 ? dims[2]! : 0;
    return { K: dims[0]!, N: dims[1]! * Math.max(experts, 1), experts };
}

export function globToRegExp(glob: string): RegExp {
    const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp(`^${body}$`);
}

/** Decides, per tensor, whether to code it. */
export function selectTensors(tensors: TensorCandidate[], options: TensorSelectionOptions = {}): TensorChoice[] {
    const include = (options.include?.length ? options.include : DEFAULT_CODED_PATTERNS).map(globToRegExp);
    if (options.outputHead ?? true) include.push(globToRegExp(OUTPUT_HEAD_PATTERN));
    if (options.embeddings ?? true) include.push(globToRegExp(EMBEDDINGS_PATTERN));
    const exclude = (options.exclude ?? []).map(globToRegExp);
    return tensors.map((t) => {
        if (!include.some((r) => r.test(t.name)) || exclude.some((r) => r.test(t.name))) return { name: t.name, code: false };
        // a matrix, or a stack of experts' matrices
        const matrix = t.dims.length >= 2 && t.dims.slice(3).every((d) => d === 1) && (t.dims[2] ?? 1) <= MAX_EXPERTS;
        if (!matrix) return { name: t.name, code: false, reason: `not a matrix or a stack of up to ${MAX_EXPERTS} experts' matrices (shape [${t.dims.join(", ")}])` };
        if (!t.readable) return { name: t.name, code: false, reason: "tensor type not supported as input (F32, F16, BF16, Q8_0 are)" };
        return { name: t.name, code: true };
    });
}
