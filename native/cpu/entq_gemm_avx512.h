/* entq_gemm_avx512.h - the batched (prompt) product of decoded f32 rows with
 * every activation column, in AVX-512 register tiles: the AVX2 tiles of
 * entq_gemm_avx2.h at twice the width, for CPUs that have AVX-512F (checked
 * at run time; llama.cpp's own kernels use it there, so its types would
 * otherwise multiply twice as wide as ours).
 *
 * A tile is 6 rows x 4 columns: 24 accumulators, 4 column vectors and one row
 * vector in the 32 zmm registers; each step of 16 k's loads 10 vectors for 24
 * FMAs (the AVX2 tile: 7 for 12), so the FMA units, not the loads, set the
 * pace. Each (row, column) sum is 16 lane sums over k, then the lanes added
 * (another order than the AVX2 tiles', the same weights).
 */
#ifndef ENTQ_GEMM_AVX512_H
#define ENTQ_GEMM_AVX512_H

#include "cpu/entq_decode_avx2.h"

#if ENTQ_AVX2_DECODER

#define ENTQ_AVX512_FN __attribute__((target("avx512f,avx2,fma")))

static inline bool entq_avx512_available(void) {
    static const bool ok = __builtin_cpu_supports("avx512f") && entq_avx2_available();
    return ok;
}

namespace entq_avx512 {

/* y[c][r] = w[r] . x[c] for R rows from w (stride ldw) and C columns. */
template <int R, int C>
ENTQ_AVX512_FN static inline void gemm_tile(const float * w, size_t ldw, int64_t K, const float * const * x, float * const * y) {
    __m512 acc[R][C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m512 xv[C];
        for (int c = 0; c < C; c++) xv[c] = _mm512_loadu_ps(x[c] + k);
        for (int r = 0; r < R; r++) {
            const __m512 wv = _mm512_loadu_ps(w + r * ldw + k);
            for (int c = 0; c < C; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    if (k < K) {  // the last K % 16: masked loads read only inside the rows and columns, other lanes 0
        const __mmask16 on = (__mmask16) ((1u << (K - k)) - 1);
        __m512 xv[C];
        for (int c = 0; c < C; c++) xv[c] = _mm512_maskz_loadu_ps(on, x[c] + k);
        for (int r = 0; r < R; r++) {
            const __m512 wv = _mm512_maskz_loadu_ps(on, w + r * ldw + k);
            for (int c = 0; c < C; c++) acc[r][c] = _mm512_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[c][r] = _mm512_reduce_add_ps(acc[r][c]);
}

/* R rows against every column, 4 columns at a time. */
template <int R>
ENTQ_AVX512_FN static inline void gemm_rows(const float * w, size_t ldw, int64_t K, const float * const * x, float * const * y, uint32_t ncols,
                                            uint32_t y0) {
    float * yr[4];
    for (uint32_t c = 0; c < ncols; c += 4) {
        const uint32_t nc = ncols - c < 4 ? ncols - c : 4;
        for (uint32_t j = 0; j < nc; j++) yr[j] = y[c + j] + y0;
        switch (nc) {
            case 4: gemm_tile<R, 4>(w, ldw, K, x + c, yr); break;
            case 3: gemm_tile<R, 3>(w, ldw, K, x + c, yr); break;
            case 2: gemm_tile<R, 2>(w, ldw, K, x + c, yr); break;
            default: gemm_tile<R, 1>(w, ldw, K, x + c, yr); break;
        }
    }
}

}  // namespace entq_avx512

/* entq_avx2_gemm's contract, in 6-row x 4-column AVX-512 tiles. Requires entq_avx512_available(). */
ENTQ_AVX512_FN ENTQ_NOINLINE static void entq_avx512_gemm(const float * rows, size_t ldr, uint32_t nrows, int64_t K, const float * const * x,
                                                          float * const * y, uint32_t ncols, uint32_t y0) {
    for (uint32_t r = 0; r < nrows; r += 6) {
        const float * w = rows + r * ldr;
        switch (nrows - r < 6 ? nrows - r : 6) {
            case 6: entq_avx512::gemm_rows<6>(w, ldr, K, x, y, ncols, y0 + r); break;
            case 5: entq_avx512::gemm_rows<5>(w, ldr, K, x, y, ncols, y0 + r); break;
            case 4: entq_avx512::gemm_rows<4>(w, ldr, K, x, y, ncols, y0 + r); break;
            case 3: entq_avx512::gemm_rows<3>(w, ldr, K, x, y, ncols, y0 + r); break;
            case 2: entq_avx512::gemm_rows<2>(w, ldr, K, x, y, ncols, y0 + r); break;
            default: entq_avx512::gemm_rows<1>(w, ldr, K, x, y, ncols, y0 + r); break;
        }
    }
}

#endif /* ENTQ_AVX2_DECODER */
#endif /* ENTQ_GEMM_AVX512_H */
