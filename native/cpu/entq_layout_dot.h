/* entq_layout_dot.h - a row of decoded levels (int8) times f32 activations:
 * the GEMV's dot product. Levels are small integers, so their f32 copies are
 * exact and the sum differs from the dequantised row's only in rounding order
 * (the row scale is applied once, to the sum). AVX2 + FMA when the CPU has
 * them (checked at run time), else plain C.
 */
#ifndef ENTQ_LAYOUT_DOT_H
#define ENTQ_LAYOUT_DOT_H

#include "cpu/entq_cpu_layout.h"
#include "cpu/entq_decode_avx2.h"

#include <algorithm>
#include <cmath>

/* Activations for the int16 dot products: x in blocks of ENTQ_ACT16_BLOCK,
 * block b as q * d[b] with |q| <= 32767 (round to nearest), q zero-padded to
 * a multiple of 32. The rounding error, at most d[b] / 2 = max|x in block| /
 * 65534, is ~2^-16 of the block's largest activation: far below the 2^-8 of
 * the Q8 activations that llama.cpp's quantised types multiply with. */
#define ENTQ_ACT16_BLOCK 1024

static inline uint32_t entq_act16_len(uint32_t K) { return (K + 31) & ~31u; }
static inline uint32_t entq_act16_blocks(uint32_t K) { return (K + ENTQ_ACT16_BLOCK - 1) / ENTQ_ACT16_BLOCK; }

static inline void entq_act16_quantize(const float * x, uint32_t K, int16_t * q, float * d) {
    for (uint32_t b = 0; b * ENTQ_ACT16_BLOCK < K; b++) {
        const uint32_t k0 = b * ENTQ_ACT16_BLOCK, k1 = std::min(K, k0 + ENTQ_ACT16_BLOCK);
        float amax = 0.0f;
        for (uint32_t k = k0; k < k1; k++) amax = std::max(amax, std::fabs(x[k]));
        d[b] = amax / 32767.0f;
        const float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
        for (uint32_t k = k0; k < k1; k++) q[k] = (int16_t) std::lrintf(x[k] * inv);
    }
    for (uint32_t k = K; k < entq_act16_len(K); k++) q[k] = 0;
}

#if ENTQ_AVX2_DECODER
/* 32 levels a step: sign-extended to int16, vpmaddwd with the activations, int32 sums per
 * block in two accumulators (a lane sums <= 1024 / 32 pairs of products: < 2^31), converted and
 * scaled once per block. */
ENTQ_AVX2_FN static inline float entq_layout_dot16_avx2(const int8_t * lv, const int16_t * q, const float * d, uint32_t K) {
    __m256 acc = _mm256_setzero_ps();
    for (uint32_t k0 = 0; k0 < K; k0 += ENTQ_ACT16_BLOCK) {
        const uint32_t k1 = std::min(entq_act16_len(K), k0 + ENTQ_ACT16_BLOCK);
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (uint32_t k = k0; k < k1; k += 32) {  // q is zero-padded to a multiple of 32; lv has overrun bytes (times 0)
            const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (lv + k)));
            const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *) (lv + k + 16)));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *) (q + k))));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *) (q + k + 16))));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), _mm256_set1_ps(d[k0 / ENTQ_ACT16_BLOCK]), acc);
    }
    return entq_avx2::hsum(acc);
}

/* 16 levels a step in two accumulators; the K % 8 tail by masked loads (reads stay inside x). */
ENTQ_AVX2_FN static inline float entq_layout_dot_avx2(const int8_t * lv, const float * x, uint32_t K) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    uint32_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *) (lv + k))));
        const __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *) (lv + k + 8))));
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + k), a0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + k + 8), a1);
    }
    for (; k < K; k += 8) {  // lv has ENTQ_LAYOUT_OVERRUN readable bytes past K
        const __m256i on = _mm256_cmpgt_epi32(_mm256_set1_epi32((int) (K - k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256 w = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *) (lv + k))));
        a0 = _mm256_fmadd_ps(w, _mm256_maskload_ps(x + k, on), a0);
    }
    return entq_avx2::hsum(_mm256_add_ps(a0, a1));
}
#endif

/* sum_k lv[k] * q[k] * d[k / ENTQ_ACT16_BLOCK]; lv must have ENTQ_LAYOUT_OVERRUN readable bytes past K. */
static inline float entq_layout_dot16(const int8_t * lv, const int16_t * q, const float * d, uint32_t K) {
#if ENTQ_AVX2_DECODER
    if (entq_avx2_available()) return entq_layout_dot16_avx2(lv, q, d, K);
#endif
    float acc = 0.0f;
    for (uint32_t k0 = 0; k0 < K; k0 += ENTQ_ACT16_BLOCK) {
        int64_t s = 0;
        for (uint32_t k = k0; k < std::min(K, k0 + ENTQ_ACT16_BLOCK); k++) s += (int32_t) lv[k] * q[k];
        acc += (float) s * d[k0 / ENTQ_ACT16_BLOCK];
    }
    return acc;
}

/* sum_k lv[k] * x[k]; lv must have ENTQ_LAYOUT_OVERRUN readable bytes past K. */
static inline float entq_layout_dot(const int8_t * lv, const float * x, uint32_t K) {
#if ENTQ_AVX2_DECODER
    if (entq_avx2_available()) return entq_layout_dot_avx2(lv, x, K);
#endif
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    uint32_t k = 0;
    for (; k + 8 <= K; k += 8)
        for (int i = 0; i < 8; i++) acc[i] += (float) lv[k + i] * x[k + i];
    for (; k < K; k++) acc[k % 8] += (float) lv[k] * x[k];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

#endif /* ENTQ_LAYOUT_DOT_H */
