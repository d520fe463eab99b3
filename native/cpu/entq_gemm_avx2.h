/* entq_gemm_avx2.h - the batched (prompt) half of the ggml-cpu kernel: a block
 * of decoded rows times every activation column, in AVX2 register tiles.
 *
 * A tile is 4 rows x 3 columns: 12 accumulators, 3 column vectors and one row
 * vector fill the 16 ymm registers, and each step of 8 k's loads 7 vectors for
 * 12 FMAs; a row tile meets all columns before the next (its 4 rows stay
 * in L1/L2 while the columns stream). A row-by-column dot
 * (ggml_vec_dot_f32, the fallback) loads 2 vectors per FMA from L2 and reduces
 * once per pair: the prompt path ran ~1.7x slower with it (docs/BENCHMARKS.md).
 * Each (row, column) sum is 8 lane sums over k, then the lanes added: another
 * order than ggml_vec_dot_f32's, the same weights. (Passes over k of 256-2048
 * to keep tiles in L1 measured slower: the extra reductions cost more than
 * L2 bandwidth does here.)
 */
#ifndef ENTQ_GEMM_AVX2_H
#define ENTQ_GEMM_AVX2_H

#include "cpu/entq_decode_avx2.h"

#if ENTQ_AVX2_DECODER

namespace entq_avx2 {

/* y[c][r] = w[r] . x[c] for R rows from w (stride ldw) and C columns. */
template <int R, int C>
ENTQ_AVX2_FN static inline void gemm_tile(const float * w, size_t ldw, int64_t K, const float * const * x, float * const * y) {
    __m256 acc[R][C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 xv[C];
        for (int c = 0; c < C; c++) xv[c] = _mm256_loadu_ps(x[c] + k);
        for (int r = 0; r < R; r++) {
            const __m256 wv = _mm256_loadu_ps(w + r * ldw + k);
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    if (k < K) {  // the last K % 8: masked loads read only inside the rows and columns, other lanes 0
        const __m256i on = _mm256_cmpgt_epi32(_mm256_set1_epi32((int) (K - k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 xv[C];
        for (int c = 0; c < C; c++) xv[c] = _mm256_maskload_ps(x[c] + k, on);
        for (int r = 0; r < R; r++) {
            const __m256 wv = _mm256_maskload_ps(w + r * ldw + k, on);
            for (int c = 0; c < C; c++) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[c][r] = hsum(acc[r][c]);
}

/* R rows against every column, 3 columns at a time. */
template <int R>
ENTQ_AVX2_FN static inline void gemm_rows(const float * w, size_t ldw, int64_t K, const float * const * x, float * const * y, uint32_t ncols,
                                          uint32_t y0) {
    float * yr[3];
    uint32_t c = 0;
    for (; c < ncols; c += 3) {
        const uint32_t nc = ncols - c < 3 ? ncols - c : 3;
        for (uint32_t j = 0; j < nc; j++) yr[j] = y[c + j] + y0;
        if (nc == 3) gemm_tile<R, 3>(w, ldw, K, x + c, yr);
        if (nc == 2) gemm_tile<R, 2>(w, ldw, K, x + c, yr);
        if (nc == 1) gemm_tile<R, 1>(w, ldw, K, x + c, yr);
    }
}

}  // namespace entq_avx2

/* y[c][y0 + r] = rows[r * ldr + 0 .. K) . x[c][0 .. K) for r < nrows, c < ncols:
 * a block of decoded rows against every activation column (x[c] and y[c] the
 * columns' addresses), rows in tiles of 4, columns of 3. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static void entq_avx2_gemm(const float * rows, size_t ldr, uint32_t nrows, int64_t K, const float * const * x,
                                                      float * const * y, uint32_t ncols, uint32_t y0) {
    for (uint32_t r = 0; r < nrows; r += 4) {
        const float * w = rows + r * ldr;
        switch (nrows - r < 4 ? nrows - r : 4) {
            case 4: entq_avx2::gemm_rows<4>(w, ldr, K, x, y, ncols, y0 + r); break;
            case 3: entq_avx2::gemm_rows<3>(w, ldr, K, x, y, ncols, y0 + r); break;
            case 2: entq_avx2::gemm_rows<2>(w, ldr, K, x, y, ncols, y0 + r); break;
            default: entq_avx2::gemm_rows<1>(w, ldr, K, x, y, ncols, y0 + r); break;
        }
    }
}

#endif /* ENTQ_AVX2_DECODER */
#endif /* ENTQ_GEMM_AVX2_H */
