/* entq_decode_avx2.h - the ENTQ decoder in AVX2 for the ggml-cpu kernel: the
 * 32 lanes of a segment as 4 vectors of 8, decoding exactly the symbols of the
 * reference (native/stream/entq_decode.h), with the same word-claiming order
 * and the same clamping of word reads to the segment.
 *
 * One step of 32 lanes:
 *   slot = x & (M - 1)                             per vector: and
 *   e    = table[slot]                             two 4-lane u64 gathers
 *          {freq:16 | bias:16 | value f32:32}      (one lookup gives state update and weight)
 *   x'   = freq * (x >> b) + bias                  mullo, add
 *   renormalise, lanes in ascending order:         need = x' < L; movemask; the vector's
 *     words[ptr .. ptr + 8) zero-extended,         words go to its needing lanes in lane order
 *     permuted by a 256-entry table on the mask,   (lane j gets word ptr + rank of j among
 *     blended into (x' << 16) | word;              the needing lanes), ptr += popcount
 *   the value goes to a sink: a dot product with activations (GEMV), a store
 *   (decode to f32 for batches), or the codes (tests).
 * Word reads: while ptr + 32 <= nwords (every step but the last few of a
 * segment) one unaligned 16-byte load per vector; otherwise the 8 candidate
 * words are read one by one with the reference's clamp (index min(ptr + j,
 * nwords - 1)), so corrupt input never reads outside the segment.
 * Partial steps (a run starting or ending inside a step) go through the same
 * code with a lane mask: inactive lanes keep their state and claim no word.
 *
 * Why a u64 table: every slot of [0, 2^b) is equally likely, so at b = 14 any
 * table is touched uniformly. Separate u32 {freq|bias} and f32 value tables
 * cost two 8-lane gathers per vector; one u64 table costs two 4-lane gathers
 * and two shuffles, ~1.4x faster on Zen 3 (docs/DESIGN.md). It holds the
 * codebook value by slot, so E4M3, INT8 and custom codebooks decode alike.
 *
 * Available on x86 with GCC/Clang: the functions carry a target attribute and
 * entq_avx2_available() checks the CPU at run time, so a ggml-cpu built
 * without -mavx2 (or any ggml CPU variant) still uses them on an AVX2 CPU.
 * Elsewhere ENTQ_AVX2_DECODER is 0 and the kernel uses the reference.
 */
#ifndef ENTQ_DECODE_AVX2_H
#define ENTQ_DECODE_AVX2_H

#include "stream/entq_decode.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define ENTQ_AVX2_DECODER 1
#else
#define ENTQ_AVX2_DECODER 0
#endif

#if ENTQ_AVX2_DECODER
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define ENTQ_AVX2_FN __attribute__((target("avx2,fma,popcnt")))

/* Slot -> {freq (bits 0-15), bias = slot - cum (16-31), codebook value as f32 (32-63)}. */
struct entq_avx2_table {
    uint32_t prob_bits;
    alignas(64) uint64_t slot[1u << ENTQ_MAX_PROB_BITS];
};

/* O(2^b): one entry per slot of the stream's table (entq_parse has checked freq and cum). */
static inline void entq_avx2_build_table(const entq_info * in, const uint8_t * buf, entq_avx2_table * t) {
    t->prob_bits = in->prob_bits;
    for (uint32_t i = 0; i < in->n_sym; i++) {
        const uint32_t s = in->symbols[i];
        const float v = entq_codebook_value(in, buf, s);
        const uint64_t hi = (uint64_t) entq_f32_bits(v) << 32;
        for (uint32_t k = 0; k < in->freq[s]; k++) t->slot[in->cum[s] + k] = hi | (k << 16) | in->freq[s];
    }
}

static inline bool entq_avx2_available(void) {
    static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt");
    return ok;
}

namespace entq_avx2 {

/* perm[m][j] = number of set bits of m below bit j: the rank of lane j among the needing lanes. */
struct Perm {
    alignas(32) uint32_t idx[256][8];
    constexpr Perm() : idx() {
        for (int m = 0; m < 256; m++)
            for (int j = 0, r = 0; j < 8; j++) {
                idx[m][j] = (uint32_t) r;
                r += (m >> j) & 1;
            }
    }
};
static constexpr Perm perm{};

/* Sinks receive, per vector v of a step, the lanes' values (and slots), at
 * output position pos + 8v (pos = step's lane 0 relative to the run's first
 * symbol; negative for a run that starts inside a step). Masked calls carry
 * the active lanes; inactive lanes must not be written or counted. */
struct DotSink {
    const float * act;
    __m256 acc[4];
    ENTQ_AVX2_FN const float * at(int64_t pos) const { return (const float *) ((uintptr_t) act + (intptr_t) (4 * pos)); }
    ENTQ_AVX2_FN void full(int v, int64_t pos, __m256i, __m256 val) { acc[v] = _mm256_fmadd_ps(val, _mm256_loadu_ps(at(pos + 8 * v)), acc[v]); }
    ENTQ_AVX2_FN void masked(int v, int64_t pos, __m256i, __m256 val, __m256i on) {
        acc[v] = _mm256_fmadd_ps(val, _mm256_maskload_ps(at(pos + 8 * v), on), acc[v]);  // inactive lanes load 0
    }
};

struct ValueSink {
    float * out;
    __m256 scale;
    ENTQ_AVX2_FN float * at(int64_t pos) const { return (float *) ((uintptr_t) out + (intptr_t) (4 * pos)); }
    ENTQ_AVX2_FN void full(int v, int64_t pos, __m256i, __m256 val) { _mm256_storeu_ps(at(pos + 8 * v), _mm256_mul_ps(val, scale)); }
    ENTQ_AVX2_FN void masked(int v, int64_t pos, __m256i, __m256 val, __m256i on) {
        _mm256_maskstore_ps(at(pos + 8 * v), on, _mm256_mul_ps(val, scale));
    }
};

/* The symbols themselves, from the reference table's slot -> symbol map: for
 * checking bit-exactness, not speed. */
struct CodeSink {
    uint8_t * out;
    const uint8_t * sym;  /* entq_dtable::sym */
    ENTQ_AVX2_FN void put(int64_t pos, __m256i slot, uint32_t on) {
        alignas(32) uint32_t s[8];
        _mm256_store_si256((__m256i *) s, slot);
        for (int j = 0; j < 8; j++)
            if (on >> j & 1) out[pos + j] = sym[s[j]];
    }
    ENTQ_AVX2_FN void full(int v, int64_t pos, __m256i slot, __m256) { put(pos + 8 * v, slot, 0xff); }
    ENTQ_AVX2_FN void masked(int v, int64_t pos, __m256i slot, __m256, __m256i on) {
        put(pos + 8 * v, slot, (uint32_t) _mm256_movemask_ps(_mm256_castsi256_ps(on)));
    }
};

/* One step of the 4 vectors. MASKED: only lanes in `on` decode and claim words. */
template <bool MASKED, class Sink>
ENTQ_AVX2_FN static inline void step(const entq_avx2_table * t, __m256i * x, const __m256i * on, const uint8_t * words, uint64_t nwords,
                                     uint64_t & ptr, int64_t pos, Sink & sink) {
    const __m256i mask = _mm256_set1_epi32((int) ((1u << t->prob_bits) - 1));
    const __m128i b = _mm_cvtsi32_si128((int) t->prob_bits);
    const __m256i lo16 = _mm256_set1_epi32(0xffff);
    __m256i nx[4];
    for (int v = 0; v < 4; v++) {
        const __m256i slot = _mm256_and_si256(x[v], mask);
        // gather lanes {0,1,4,5} and {2,3,6,7}: the even/odd dword shuffles then come out in lane order
        const __m256i sp = _mm256_permute4x64_epi64(slot, 0xD8);
        const __m256 g0 = _mm256_castsi256_ps(_mm256_i32gather_epi64((const long long *) t->slot, _mm256_castsi256_si128(sp), 8));
        const __m256 g1 = _mm256_castsi256_ps(_mm256_i32gather_epi64((const long long *) t->slot, _mm256_extracti128_si256(sp, 1), 8));
        const __m256i fb = _mm256_castps_si256(_mm256_shuffle_ps(g0, g1, 0x88));
        const __m256 val = _mm256_shuffle_ps(g0, g1, 0xDD);
        nx[v] = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_and_si256(fb, lo16), _mm256_srl_epi32(x[v], b)), _mm256_srli_epi32(fb, 16));
        if (MASKED) {
            nx[v] = _mm256_blendv_epi8(x[v], nx[v], on[v]);
            sink.masked(v, pos, slot, val, on[v]);
        } else {
            sink.full(v, pos, slot, val);
        }
    }
    const bool fast = !MASKED && ptr + 32 <= nwords;
    const uint64_t last = nwords ? nwords - 1 : 0;  // entq_dec_init points an empty segment at a zero word
    for (int v = 0; v < 4; v++) {
        __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(nx[v], 16), _mm256_setzero_si256());
        if (MASKED) need = _mm256_and_si256(need, on[v]);
        const unsigned m = (unsigned) _mm256_movemask_ps(_mm256_castsi256_ps(need));
        __m256i w;
        if (fast) {
            w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) (words + 2 * ptr)));
        } else {
            alignas(32) uint32_t c[8];
            for (uint64_t j = 0; j < 8; j++) c[j] = entq_rd16(words + 2 * (ptr + j < last ? ptr + j : last));
            w = _mm256_load_si256((const __m256i *) c);
        }
        w = _mm256_permutevar8x32_epi32(w, _mm256_load_si256((const __m256i *) perm.idx[m]));
        x[v] = _mm256_blendv_epi8(nx[v], _mm256_or_si256(_mm256_slli_epi32(nx[v], 16), w), need);
        ptr += (uint64_t) _mm_popcnt_u32(m);
    }
}

/* Lanes [lo, hi) of vector v active. */
ENTQ_AVX2_FN static inline void lane_mask(uint32_t lo, uint32_t hi, __m256i * on) {
    const __m256i l = _mm256_set1_epi32((int) lo), h = _mm256_set1_epi32((int) hi);
    for (int v = 0; v < 4; v++) {
        const __m256i j = _mm256_add_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(8 * v));
        on[v] = _mm256_andnot_si256(_mm256_cmpgt_epi32(l, j), _mm256_cmpgt_epi32(h, j));  // lo <= j < hi
    }
}

/* Decodes symbols [d->i, d->i + n) of the segment into the sink (n <= count - i),
 * resumable at any symbol like entq_dec_run. */
template <class Sink>
ENTQ_AVX2_FN static inline void run(const entq_avx2_table * t, entq_decoder * d, uint64_t n, Sink & sink) {
    __m256i x[4], on[4];
    for (int v = 0; v < 4; v++) x[v] = _mm256_loadu_si256((const __m256i *) (d->x + 8 * v));
    uint64_t ptr = d->ptr, i = d->i;
    const uint64_t stop = i + n;
    int64_t pos = -(int64_t) (i % ENTQ_LANES);
    if (i % ENTQ_LANES && i < stop) {  // the rest of a step begun by an earlier call
        const uint32_t lo = (uint32_t) (i % ENTQ_LANES), hi = (uint32_t) (stop - i + lo < ENTQ_LANES ? stop - i + lo : ENTQ_LANES);
        lane_mask(lo, hi, on);
        step<true>(t, x, on, d->words, d->nwords, ptr, pos, sink);
        i += hi - lo;
        pos += ENTQ_LANES;
    }
    for (; stop - i >= ENTQ_LANES; i += ENTQ_LANES, pos += ENTQ_LANES) step<false>(t, x, on, d->words, d->nwords, ptr, pos, sink);
    if (i < stop) {  // a step this call ends inside
        lane_mask(0, (uint32_t) (stop - i), on);
        step<true>(t, x, on, d->words, d->nwords, ptr, pos, sink);
        i = stop;
    }
    for (int v = 0; v < 4; v++) _mm256_storeu_si256((__m256i *) (d->x + 8 * v), x[v]);
    d->ptr = ptr;
    d->i = i;
}

}  // namespace entq_avx2

/* sum over the next n symbols of codebook[code] * act[k] (k = 0..n-1), the row
 * scale left to the caller. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static float entq_avx2_dec_dot(const entq_avx2_table * t, entq_decoder * d, uint64_t n, const float * act) {
    entq_avx2::DotSink s{act, {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}};
    entq_avx2::run(t, d, n, s);
    const __m256 a = _mm256_add_ps(_mm256_add_ps(s.acc[0], s.acc[1]), _mm256_add_ps(s.acc[2], s.acc[3]));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* out[k] = codebook[code] * scale for the next n symbols: with scale = the row's
 * scale, exactly the values of entq_decode_dequantize. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static void entq_avx2_dec_values(const entq_avx2_table * t, entq_decoder * d, uint64_t n, float scale, float * out) {
    entq_avx2::ValueSink s{out, _mm256_set1_ps(scale)};
    entq_avx2::run(t, d, n, s);
}

/* The next n symbols as codes, sym being the reference table's slot -> symbol
 * map (entq_dtable::sym): for bit-exactness tests. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static void entq_avx2_dec_codes(const entq_avx2_table * t, const uint8_t * sym, entq_decoder * d, uint64_t n, uint8_t * out) {
    entq_avx2::CodeSink s{out, sym};
    entq_avx2::run(t, d, n, s);
}

#endif /* ENTQ_AVX2_DECODER */
#endif /* ENTQ_DECODE_AVX2_H */
