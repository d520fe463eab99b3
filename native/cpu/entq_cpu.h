/* entq_cpu.h - the ggml-cpu entry points for coded weights (GGML_TYPE_ENTQ).
 * Called from patched ggml-cpu: supports_op asks entq_cpu_supports_op() about
 * every op that touches a coded tensor, ggml_compute_forward_mul_mat() and
 * ggml_compute_forward_mul_mat_id() hand coded weights to entq_cpu_mul_mat()
 * and entq_cpu_mul_mat_id() before their own checks, and
 * ggml_compute_forward_get_rows() to entq_cpu_get_rows(). */
#ifndef ENTQ_CPU_H
#define ENTQ_CPU_H

#include "ggml.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ggml_compute_params;

/* True only for dst = mul_mat(coded [K, N] view, f32 activations),
 * dst = mul_mat_id(coded [K, N, E] view, f32 activations, i32 expert ids)
 * and dst = get_rows(coded [K, N] view, i32 row numbers), f32 out, in the
 * shapes the kernels index by. */
bool entq_cpu_supports_op(const struct ggml_tensor * op);

/* dst = W x for every column of src1; this thread takes its share of W's
 * segments (ith/nth), decodes each of their rows once and dots it with all
 * columns. A stream that fails to decode aborts naming the tensor. */
void entq_cpu_mul_mat(const struct ggml_compute_params * params, struct ggml_tensor * dst);

/* dst[:, u, t] = W[ids[u, t]] x[:, u % ne11, t]: each expert that some token
 * routes to is decoded once (its rows only, its stream's segments or its
 * layout groups) and dotted with all its tokens' columns; experts no token
 * routes to are not touched. Threads split each routed expert's rows. An
 * expert id outside [0, E) aborts naming the tensor. */
void entq_cpu_mul_mat_id(const struct ggml_compute_params * params, struct ggml_tensor * dst);

/* dst row i = row ids[i] of W, dequantised (token embeddings): this thread
 * takes its share of ids and decodes only what leads to each row
 * (entq_get_rows.h). A row number outside W aborts naming the tensor. */
void entq_cpu_get_rows(const struct ggml_compute_params * params, struct ggml_tensor * dst);

#ifdef __cplusplus
}
#endif

#endif /* ENTQ_CPU_H */
