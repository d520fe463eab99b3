/* entq_layout_dot.h - activations as int16 (a scale per block of 1024), and
 * a row of decoded levels (int8) times them: the GEMV's dot product, exact in
 * int32 within a block, the row scale applied once to the sum. AVX2 when the
 * CPU has it (checked at run time), else plain C.
 *
 * Why int16 activations: the dot product is then 16 multiply-adds per
 * vpmaddwd, ~15% faster than widening levels to f32 for FMAs on the GEMV
 * (docs/BENCHMARKS.md), and the batched path's integer tiles
 * (entq_gemm_int16.h) use the same activations.
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

#if ENTQ_AVX2_DECODER
#include "cpu/entq_cpuid.h"
#define ENTQ_VNNI512_FN __attribute__((target("avx512f,avx512bw,avx512vnni,avx2,fma")))
#define ENTQ_VNNI256_FN __attribute__((target("avxvnni,avx2,fma")))

static inline bool entq_vnni512_available(void) {
    static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                           __builtin_cpu_supports("avx512vnni") && entq_avx2_available();
    return ok;
}

static inline bool entq_vnni256_available(void) {
    static const bool ok = entq_cpu_has_avxvnni() && entq_avx2_available();  // Clang 14 has no "avxvnni" name
    return ok;
}

/* The same numbers as the plain loop below (round to nearest even, as lrintf in the default mode). */
ENTQ_AVX2_FN static inline void entq_act16_quantize_avx2(const float * x, uint32_t K, int16_t * q, float * d) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (uint32_t b = 0; b * ENTQ_ACT16_BLOCK < K; b++) {
        const uint32_t k0 = b * ENTQ_ACT16_BLOCK, k1 = std::min(K, k0 + ENTQ_ACT16_BLOCK);
        __m256 m = _mm256_setzero_ps();
        uint32_t k = k0;
        for (; k + 8 <= k1; k += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)));
        float amax = 0.0f;
        for (; k < k1; k++) amax = std::max(amax, std::fabs(x[k]));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        amax = std::max(amax, _mm_cvtss_f32(h));
        d[b] = amax / 32767.0f;
        const float inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
        const __m256 vinv = _mm256_set1_ps(inv);
        for (k = k0; k + 16 <= k1; k += 16) {
            const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv));
            const __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8), vinv));
            _mm256_storeu_si256((__m256i *) (q + k), _mm256_permute4x64_epi64(_mm256_packs_epi32(a, c), 0xd8));
        }
        for (; k < k1; k++) q[k] = (int16_t) std::lrintf(x[k] * inv);
    }
    for (uint32_t k = K; k < entq_act16_len(K); k++) q[k] = 0;
}
#endif

static inline void entq_act16_quantize_ref(const float * x, uint32_t K, int16_t * q, float * d) {
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

static inline void entq_act16_quantize(const float * x, uint32_t K, int16_t * q, float * d) {
#if ENTQ_AVX2_DECODER
    if (entq_avx2_available()) return entq_act16_quantize_avx2(x, K, q, d);
#endif
    entq_act16_quantize_ref(x, K, q, d);
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

#endif

#if ENTQ_AVX2_DECODER
// the vector returns of these helpers are inlined into functions of their own ISA
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
/* 64 levels a step: widened by vpmovsxbw zmm, vpdpwssd into two int32 accumulators (a lane sums <= 1024 / 64
 * pairs of products a block: < 2^31): a third of the AVX2 version's instructions per level. */
ENTQ_VNNI512_FN static inline float entq_layout_dot16_vnni512(const int8_t * lv, const int16_t * q, const float * d, uint32_t K) {
    __m512 acc = _mm512_setzero_ps();
    const uint32_t Kp = entq_act16_len(K);
    for (uint32_t k0 = 0; k0 < Kp; k0 += ENTQ_ACT16_BLOCK) {
        const uint32_t k1 = std::min(Kp, k0 + ENTQ_ACT16_BLOCK);
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        uint32_t k = k0;
        for (; k + 64 <= k1; k += 64) {
            const __m512i w0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *) (lv + k)));
            const __m512i w1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *) (lv + k + 32)));
            s0 = _mm512_dpwssd_epi32(s0, w0, _mm512_loadu_si512((const void *) (q + k)));
            s1 = _mm512_dpwssd_epi32(s1, w1, _mm512_loadu_si512((const void *) (q + k + 32)));
        }
        if (k < k1) {  // 32 more (k1 - k0 is a multiple of 32)
            const __m512i w0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *) (lv + k)));
            s0 = _mm512_dpwssd_epi32(s0, w0, _mm512_loadu_si512((const void *) (q + k)));
        }
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_set1_ps(d[k0 / ENTQ_ACT16_BLOCK]), acc);
    }
    return _mm512_reduce_add_ps(acc);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif

/* The plain-C dot product (CPUs without AVX2). */
static inline float entq_layout_dot16_ref(const int8_t * lv, const int16_t * q, const float * d, uint32_t K) {
    float acc = 0.0f;
    for (uint32_t k0 = 0; k0 < K; k0 += ENTQ_ACT16_BLOCK) {
        int64_t s = 0;
        for (uint32_t k = k0; k < std::min(K, k0 + ENTQ_ACT16_BLOCK); k++) s += (int32_t) lv[k] * q[k];
        acc += (float) s * d[k0 / ENTQ_ACT16_BLOCK];
    }
    return acc;
}

/* sum_k lv[k] * q[k] * d[k / ENTQ_ACT16_BLOCK]; lv must have ENTQ_LAYOUT_OVERRUN readable bytes past K. */
static inline float entq_layout_dot16(const int8_t * lv, const int16_t * q, const float * d, uint32_t K) {
#if ENTQ_AVX2_DECODER
    if (entq_vnni512_available()) return entq_layout_dot16_vnni512(lv, q, d, K);
    if (entq_avx2_available()) return entq_layout_dot16_avx2(lv, q, d, K);
#endif
    return entq_layout_dot16_ref(lv, q, d, K);
}

#endif /* ENTQ_LAYOUT_DOT_H */
