/* entq_cuda.h - host API of the CUDA kernels for ENTQ streams.
 *
 * A stream lives in device memory as it does in the file (4-aligned). The
 * host parses its header once (entq_parse on a host copy: every offset is
 * checked there, the kernels trust the index), builds the slot table
 * (entq_lane_build_table) and uploads it; then
 *   entq_cuda_gemv          y = W x for 1..8 columns, fused decode (a warp per segment)
 *   entq_cuda_decode_f16    W's unscaled codebook values as f16 rows, for a matrix product
 *   entq_cuda_scale_rows    the row scales applied to such a product's output
 *   entq_cuda_decode_codes  the raw codes (to check decoding against the reference)
 * Decoding errors are reported in status[0] (an entq_status, 0 = ok) and
 * status[1] (the first bad segment); reset both with entq_cuda_status_reset.
 */
#ifndef ENTQ_CUDA_H
#define ENTQ_CUDA_H

#include <cuda_runtime.h>

#include "entq_lane.h"

typedef struct entq_cuda_tensor {
    const uint8_t *payload;      /* device: section 7 */
    const uint32_t *index;       /* device: n_seg segment end offsets */
    const uint16_t *scales;      /* device: N f16 row scales */
    const entq_lane_slot *table; /* device: 2^prob_bits slots (entq_lane_build_table) */
    const uint8_t *sym;          /* device: 2^prob_bits symbols (decode_codes only; may be null) */
    uint32_t K, N, rows_per_seg, n_seg, prob_bits;
    float scale_base;
} entq_cuda_tensor;

/* Points t at a parsed stream copied to d_stream; table/sym are device
 * arrays holding entq_lane_build_table's output. ENTQ_ERR_ARG when d_stream
 * is not 4-aligned, ENTQ_ERR_TOO_LARGE when a segment holds 2^32 - 32 or more symbols. */
int entq_cuda_describe(const entq_info *in, const uint8_t *d_stream, const entq_lane_slot *table, const uint8_t *sym,
                       entq_cuda_tensor *t);

cudaError_t entq_cuda_status_reset(int *d_status, cudaStream_t stream);

/* y[c * ldy + r] = sum_k W[r][k] x[c * ldx + k], r < N, c < ncols (any
 * ncols >= 1: groups of 8 columns, each group decoding W once). */
cudaError_t entq_cuda_gemv(const entq_cuda_tensor *t, const float *x, uint32_t ldx, float *y, uint32_t ldy,
                           uint32_t ncols, int *d_status, cudaStream_t stream);

/* out[r * ld + k] = f16(codebook[code[r][k]]) for k < K (ld >= K; other entries untouched). */
cudaError_t entq_cuda_decode_f16(const entq_cuda_tensor *t, uint16_t *out, uint32_t ld, int *d_status,
                                 cudaStream_t stream);

/* y[c * ldy + r] *= scale_base * row_scale[r]. */
cudaError_t entq_cuda_scale_rows(const entq_cuda_tensor *t, float *y, uint32_t ldy, uint32_t ncols,
                                 cudaStream_t stream);

/* The same for any layout: scales = N f16 row scales (device). */
cudaError_t entq_cuda_scale_rows_by(const uint16_t *scales, float scale_base, uint32_t N, float *y, uint32_t ldy,
                                    uint32_t ncols, cudaStream_t stream);

/* out[r * K + k] = code[r][k] (needs t->sym). */
cudaError_t entq_cuda_decode_codes(const entq_cuda_tensor *t, uint8_t *out, int *d_status, cudaStream_t stream);

/* Multiprocessors of the current device (launch shapes of both layouts' kernels). */
int entq_cuda_device_sms(void);

/* Warps per block and blocks the GEMV uses for t (for reports). */
void entq_cuda_launch_shape(const entq_cuda_tensor *t, uint32_t *warps_per_block, uint32_t *blocks);

/* C[c * ldc + r] = sum_k A[r * lda + k] * Bm[c * ldb + k] (f16 in, f32 out),
 * r < M, c < Ncols: a plain tensor-core (wmma) GEMM for the large-batch path
 * where no cuBLAS is at hand. lda, ldb multiples of 8; any M, Ncols, K. */
cudaError_t entq_cuda_gemm_f16(const uint16_t *A, uint32_t lda, const uint16_t *Bm, uint32_t ldb, float *C,
                               uint32_t ldc, uint32_t M, uint32_t Ncols, uint32_t K, cudaStream_t stream);

/* dst[c * ld + k] = f16(src[c * lds + k]) for k < K, zero for K <= k < ld. */
cudaError_t entq_cuda_f32_to_f16(const float *src, uint32_t lds, uint16_t *dst, uint32_t ld, uint32_t K,
                                 uint32_t ncols, cudaStream_t stream);

#endif /* ENTQ_CUDA_H */
