/* entq_tile_cuda.h - host API of the CUDA kernels on the lane-stream layout
 * (entq_tile.h; made by entq_tile_repack.h when a weight is uploaded).
 *   entq_tile_cuda_gemv          y = W x for any number of columns, fused decode
 *                                (groups of up to 8 columns, each decoding W once)
 *   entq_tile_cuda_decode_f16    W's unscaled codebook values as f16 rows, for a
 *                                matrix product (then entq_cuda_scale_rows_by)
 *   entq_tile_cuda_decode_codes  the raw codes (to check against the reference)
 *   entq_tile_cuda_get_rows      chosen rows dequantised (GET_ROWS: token embeddings)
 * The layout was made from a stream the reference decoded cleanly, so these
 * kernels report no status: nothing in them depends on untrusted bytes. */
#ifndef ENTQ_TILE_CUDA_H
#define ENTQ_TILE_CUDA_H

#include <cuda_runtime.h>

#include "entq_tile.h"

/* y[c * ldy + r] = sum_k W[r][k] x[c * ldx + k] (scaled rows), r < N, c < ncols. */
cudaError_t entq_tile_cuda_gemv(const entq_tile_tensor *t, const float *x, uint32_t ldx, float *y, uint32_t ldy,
                                uint32_t ncols, cudaStream_t stream);

/* out[r * ld + k] = f16(codebook[code[r][k]]) for k < K (ld >= K; other entries untouched). */
cudaError_t entq_tile_cuda_decode_f16(const entq_tile_tensor *t, uint16_t *out, uint32_t ld, cudaStream_t stream);

/* out[r * K + k] = code[r][k]. */
cudaError_t entq_tile_cuda_decode_codes(const entq_tile_tensor *t, uint8_t *out, cudaStream_t stream);

/* out[i * ld + k] = W[ids[i]][k] dequantised as the reference does, i < n (ids, out, bad in device
 * memory). A row outside [0, N) sets bad[0] = 1, bad[1] = that row (bad zeroed by the caller). */
cudaError_t entq_tile_cuda_get_rows(const entq_tile_tensor *t, const int32_t *ids, uint32_t n, float *out, uint64_t ld, int *bad,
                                    cudaStream_t stream);

/* Warps per block and blocks the kernels use for t (for reports). */
void entq_tile_cuda_launch_shape(const entq_tile_tensor *t, uint32_t *warps_per_block, uint32_t *blocks);

#endif /* ENTQ_TILE_CUDA_H */
