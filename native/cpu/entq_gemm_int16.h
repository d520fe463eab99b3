/* entq_gemm_int16.h - the batched (prompt) product of decoded rows with every
 * activation column in 16-bit integers: levels (int8, widened) times int16
 * activations (entq_layout_dot.h: a scale per ENTQ_ACT16_BLOCK of a column),
 * int32 sums per block, scaled into f32 once a block.
 *
 * Why integers: a prompt multiplies every weight with ~100+ columns, so the
 * multiply-adds, not the decoding, set its speed (88% of a 128-token prompt
 * in the f32 tiles). An f32 FMA does 8 multiply-adds per 256 bits; vpdpwssd
 * (AVX-VNNI, AVX512-VNNI) does 16, fused, and the int16 activations are
 * within 2^-16 of their block's largest value (llama.cpp's quantised types
 * round activations to 8 bits). Without VNNI, vpmaddwd + vpaddd do the same
 * 16 in two instructions (no faster than f32 FMAs, but the same numbers).
 *
 * Tiles (registers: int32 sums, f32 totals, column vectors, one row vector):
 *   AVX512-VNNI  4 rows x 3 columns of zmm  (12 + 12 + 3 + 1 of 32)
 *   AVX-VNNI     2 rows x 3 columns of ymm  (6 + 6 + 3 + 1 of 16)
 *   AVX2         2 rows x 3 columns of ymm, madd + add
 * The int32 sums cannot overflow: a block of 1024 puts at most 1024/16 (ymm)
 * products of <= 2 x 127 x 32767 in a lane, < 2^31.
 */
#ifndef ENTQ_GEMM_INT16_H
#define ENTQ_GEMM_INT16_H

#include "cpu/entq_layout_dot.h"

/* The int16 activations of the batch: column c's values and its block scales. */
struct entq_act16_cols {
    const int16_t * const * q;  /* entq_act16_len(K) values each, zero-padded */
    const float * const * d;    /* entq_act16_blocks(K) scales each */
};

#if ENTQ_AVX2_DECODER

namespace entq_int16 {

// the policies' vector returns are inlined into functions of their own ISA; GCC warns about the ABI of
// vector returns in a translation unit built without that ISA (the addon's, the tests')
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* ISA policies: a vector of int16 / int32 / f32, and the block step. */
struct Zmm {
    using I = __m512i;
    using F = __m512;
    static constexpr int LANES16 = 32;
    ENTQ_VNNI512_FN static I load(const int16_t * p) { return _mm512_loadu_si512((const void *) p); }
    ENTQ_VNNI512_FN static I zero() { return _mm512_setzero_si512(); }
    ENTQ_VNNI512_FN static F fzero() { return _mm512_setzero_ps(); }
    ENTQ_VNNI512_FN static I dot(I acc, I a, I b) { return _mm512_dpwssd_epi32(acc, a, b); }
    ENTQ_VNNI512_FN static F fma_block(I acc, float d, F tot) { return _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(d), tot); }
    ENTQ_VNNI512_FN static float sum(F v) { return _mm512_reduce_add_ps(v); }
};
struct YmmVnni {
    using I = __m256i;
    using F = __m256;
    static constexpr int LANES16 = 16;
    ENTQ_VNNI256_FN static I load(const int16_t * p) { return _mm256_loadu_si256((const __m256i *) p); }
    ENTQ_VNNI256_FN static I zero() { return _mm256_setzero_si256(); }
    ENTQ_VNNI256_FN static F fzero() { return _mm256_setzero_ps(); }
    ENTQ_VNNI256_FN static I dot(I acc, I a, I b) { return _mm256_dpwssd_avx_epi32(acc, a, b); }
    ENTQ_VNNI256_FN static F fma_block(I acc, float d, F tot) { return _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(d), tot); }
    ENTQ_VNNI256_FN static float sum(F v) { return entq_avx2::hsum(v); }
};
struct Ymm {
    using I = __m256i;
    using F = __m256;
    static constexpr int LANES16 = 16;
    ENTQ_AVX2_FN static I load(const int16_t * p) { return _mm256_loadu_si256((const __m256i *) p); }
    ENTQ_AVX2_FN static I zero() { return _mm256_setzero_si256(); }
    ENTQ_AVX2_FN static F fzero() { return _mm256_setzero_ps(); }
    ENTQ_AVX2_FN static I dot(I acc, I a, I b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
    ENTQ_AVX2_FN static F fma_block(I acc, float d, F tot) { return _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), _mm256_set1_ps(d), tot); }
    ENTQ_AVX2_FN static float sum(F v) { return entq_avx2::hsum(v); }
};

/* y[c][r] = row_scale[r] x sum over blocks of d_c[b] x (rows[r] . q_c over the block), R rows x C columns. */
template <class V, int R, int C>
static inline __attribute__((always_inline)) void tile(const int16_t * rows, size_t ldr, uint32_t K, const int16_t * const * q,
                                                       const float * const * d, float * const * y, const float * row_scale) {
    typename V::F tot[R][C];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) tot[r][c] = V::fzero();
    const uint32_t Kp = entq_act16_len(K);
    for (uint32_t k0 = 0, b = 0; k0 < Kp; k0 += ENTQ_ACT16_BLOCK, b++) {
        const uint32_t k1 = Kp - k0 < ENTQ_ACT16_BLOCK ? Kp : k0 + ENTQ_ACT16_BLOCK;
        typename V::I acc[R][C];
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) acc[r][c] = V::zero();
        for (uint32_t k = k0; k < k1; k += V::LANES16) {  // k1 - k0 is a multiple of 32
            typename V::I xv[C];
            for (int c = 0; c < C; c++) xv[c] = V::load(q[c] + k);
            for (int r = 0; r < R; r++) {
                const typename V::I wv = V::load(rows + r * ldr + k);
                for (int c = 0; c < C; c++) acc[r][c] = V::dot(acc[r][c], wv, xv[c]);
            }
        }
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) tot[r][c] = V::fma_block(acc[r][c], d[c][b], tot[r][c]);
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) y[c][r] = V::sum(tot[r][c]) * row_scale[r];
}

template <class V, int R>
static inline __attribute__((always_inline)) void rows_all_columns(const int16_t * rows, size_t ldr, uint32_t K, entq_act16_cols x,
                                                                   float * const * y, uint32_t ncols, uint32_t y0, const float * row_scale) {
    float * yr[3];
    for (uint32_t c = 0; c < ncols; c += 3) {
        const uint32_t nc = ncols - c < 3 ? ncols - c : 3;
        for (uint32_t j = 0; j < nc; j++) yr[j] = y[c + j] + y0;
        if (nc == 3) tile<V, R, 3>(rows, ldr, K, x.q + c, x.d + c, yr, row_scale);
        if (nc == 2) tile<V, R, 2>(rows, ldr, K, x.q + c, x.d + c, yr, row_scale);
        if (nc == 1) tile<V, R, 1>(rows, ldr, K, x.q + c, x.d + c, yr, row_scale);
    }
}

template <class V, int RMAX>
static inline __attribute__((always_inline)) void gemm(const int16_t * rows, size_t ldr, uint32_t nrows, uint32_t K, entq_act16_cols x,
                                                       float * const * y, uint32_t ncols, uint32_t y0, const float * row_scale) {
    for (uint32_t r = 0; r < nrows; r += RMAX) {
        const int16_t * w = rows + r * ldr;
        const uint32_t n = nrows - r < RMAX ? nrows - r : RMAX;
        if (n == RMAX) rows_all_columns<V, RMAX>(w, ldr, K, x, y, ncols, y0 + r, row_scale + r);
        else if (RMAX > 2 && n == 3) rows_all_columns<V, (RMAX > 2 ? 3 : 1)>(w, ldr, K, x, y, ncols, y0 + r, row_scale + r);
        else if (n == 2) rows_all_columns<V, 2>(w, ldr, K, x, y, ncols, y0 + r, row_scale + r);
        else rows_all_columns<V, 1>(w, ldr, K, x, y, ncols, y0 + r, row_scale + r);
    }
}

ENTQ_VNNI512_FN ENTQ_NOINLINE static void gemm_vnni512(const int16_t * rows, size_t ldr, uint32_t nrows, uint32_t K, entq_act16_cols x,
                                                      float * const * y, uint32_t ncols, uint32_t y0, const float * row_scale) {
    gemm<Zmm, 4>(rows, ldr, nrows, K, x, y, ncols, y0, row_scale);
}
ENTQ_VNNI256_FN ENTQ_NOINLINE static void gemm_vnni256(const int16_t * rows, size_t ldr, uint32_t nrows, uint32_t K, entq_act16_cols x,
                                                      float * const * y, uint32_t ncols, uint32_t y0, const float * row_scale) {
    gemm<YmmVnni, 2>(rows, ldr, nrows, K, x, y, ncols, y0, row_scale);
}
ENTQ_AVX2_FN ENTQ_NOINLINE static void gemm_avx2(const int16_t * rows, size_t ldr, uint32_t nrows, uint32_t K, entq_act16_cols x,
                                                float * const * y, uint32_t ncols, uint32_t y0, const float * row_scale) {
    gemm<Ymm, 2>(rows, ldr, nrows, K, x, y, ncols, y0, row_scale);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace entq_int16

#endif /* ENTQ_AVX2_DECODER */

/* entq_int16_gemm in plain C (CPUs without AVX2). */
static inline void entq_int16_gemm_ref(const int16_t * rows, size_t ldr, uint32_t nrows, uint32_t K, entq_act16_cols x, float * const * y,
                                       uint32_t ncols, uint32_t y0, const float * row_scale) {
    for (uint32_t c = 0; c < ncols; c++)
        for (uint32_t r = 0; r < nrows; r++) {
            float tot = 0.0f;
            for (uint32_t k0 = 0, b = 0; k0 < K; k0 += ENTQ_ACT16_BLOCK, b++) {
                int64_t s = 0;
                for (uint32_t k = k0; k < std::min(K, k0 + ENTQ_ACT16_BLOCK); k++) s += (int32_t) rows[r * ldr + k] * x.q[c][k];
                tot += (float) s * x.d[c][b];
            }
            y[c][y0 + r] = tot * row_scale[r];
        }
}

/* y[c][y0 + r] = row_scale[r] x rows[r] . (column c of x) for r < nrows, c < ncols: rows (int16, stride ldr,
 * readable to entq_act16_len(K)) against the batch's int16 activations, on the widest integer dot products the
 * CPU has; in plain C elsewhere. The same sums in every variant up to f32 rounding (int32 sums are exact). */
static inline void entq_int16_gemm(const int16_t * rows, size_t ldr, uint32_t nrows, uint32_t K, entq_act16_cols x, float * const * y,
                                   uint32_t ncols, uint32_t y0, const float * row_scale) {
#if ENTQ_AVX2_DECODER
    if (entq_vnni512_available()) return entq_int16::gemm_vnni512(rows, ldr, nrows, K, x, y, ncols, y0, row_scale);
    if (entq_vnni256_available()) return entq_int16::gemm_vnni256(rows, ldr, nrows, K, x, y, ncols, y0, row_scale);
    if (entq_avx2_available()) return entq_int16::gemm_avx2(rows, ldr, nrows, K, x, y, ncols, y0, row_scale);
#endif
    entq_int16_gemm_ref(rows, ldr, nrows, K, x, y, ncols, y0, row_scale);
}

#endif /* ENTQ_GEMM_INT16_H */
