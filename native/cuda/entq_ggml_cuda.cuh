/* entq_ggml_cuda.cuh - GGML_TYPE_ENTQ in the patched ggml-cuda backend
 * (patches/0004): which ops run here, the multiply itself, and the cache of
 * parsed headers and slot tables that must follow the weights' lifetime.
 * Compiled into ggml-cuda; the kernels are entq_cuda.cu's. */
#pragma once

#include "ggml-cuda/common.cuh"

/* MUL_MAT of a coded [K, N] weight view by contiguous f32 activations into
 * f32, MUL_MAT_ID of a coded [K, N, E] expert stack by f32 activations
 * and i32 expert ids, and GET_ROWS of a coded [K, N] view by i32 row numbers
 * into f32. Any other op touching a coded tensor: false. (Where the weight may
 * live is ggml-cuda.cu's call: its buffer type checks are local to it.) */
bool entq_ggml_cuda_supports_op(const ggml_tensor * op);

/* dst = src0 (coded) x src1: fused decode + GEMV for up to
 * ENTQ_GGML_CUDA_GEMV_MAX_COLS columns, else decode to f16 + cuBLAS. The
 * first multiply of each weight repacks it into the CUDA layout (the stream
 * copied back, decoded by the reference, re-encoded, uploaded; or with
 * ENTGGUF_CUDA_LAYOUT=0 parses its header, uploads its slot table and checks
 * that every segment decoded cleanly): one synchronisation per weight, never
 * inside a CUDA graph capture (see entq_ggml_cuda_graph_ready). A corrupt
 * stream aborts naming the tensor. */
void entq_ggml_cuda_mul_mat(ggml_backend_cuda_context & ctx, const ggml_tensor * src0, const ggml_tensor * src1, ggml_tensor * dst);

/* dst[:, u, t] = expert ids[u, t] of src0 (coded [K, N, E]) x src1[:, u % ne11, t].
 * The ids are read on the host (one synchronisation, as ggml-cuda's own
 * MUL_MAT_ID fallback does); each routed expert's columns are gathered, its
 * rows alone decoded by the same kernels as entq_ggml_cuda_mul_mat (as a
 * [K, N] matrix over its own segments), and the results scattered back.
 * Experts no token routes to are not decoded. */
void entq_ggml_cuda_mul_mat_id(ggml_backend_cuda_context & ctx, ggml_tensor * dst);

/* dst row i = row ids[i] of src0 (coded [K, N]), dequantised bit for bit as
 * the reference does, from the CUDA layout (one warp per row, its tile
 * decoded). Reads back a status (one synchronisation): a row outside the
 * weight aborts naming the tensor. llama.cpp keeps token embeddings on the
 * CPU, so this runs only where a graph reads rows of a weight on the GPU. */
void entq_ggml_cuda_get_rows(ggml_backend_cuda_context & ctx, ggml_tensor * dst);

/* False while the graph holds a coded weight whose first multiply has not
 * run yet, or a GET_ROWS of one: those synchronise, so the graph must run
 * without capture. */
bool entq_ggml_cuda_graph_ready(const ggml_cgraph * cgraph);

/* Drops cached tables of weights in [base, base + size) on `device`: called
 * when a CUDA buffer is freed, before its memory can be reused. */
void entq_ggml_cuda_forget(int device, const void * base, size_t size);
