/* entq_decode_avx2.h - the ENTQ decoder in AVX2 for the ggml-cpu kernel: the
 * 32 lanes of a segment as 4 vectors of 8, decoding exactly the symbols of the
 * reference (native/stream/entq_decode.h), with the same word-claiming order
 * and the same clamping of word reads to the segment.
 *
 * One step of 32 lanes:
 *   slot = x & (M - 1)                             per vector: and
 *   e    = table[slot]                             8 scalar u64 loads
 *          {freq:16 | bias:16 | value f32:32}      (one lookup gives state update and weight)
 *   x'   = freq * (x >> b) + bias                  mullo, add
 *   renormalise, lanes in ascending order:         need = x' < L; movemask; the vector's
 *     words[ptr .. ptr + 8) moved to the needing   words go to its needing lanes in lane order
 *     lanes by one vpshufb whose control comes     (lane j gets word ptr + rank of j among
 *     from a 256-entry table on the mask (other    the needing lanes), ptr += popcount
 *     lanes get 0), x = (x' << (need ? 16 : 0)) | word
 *   the value goes to a sink: a dot product with activations (GEMV), a store
 *   (decode to f32 for batches), or the codes (tests).
 * Word reads: while ptr + 32 <= nwords (every step but the last few of a
 * segment) one unaligned 16-byte load per vector; otherwise the 8 candidate
 * words are read one by one with the reference's clamp (index min(ptr + j,
 * nwords - 1)), so corrupt input never reads outside the segment.
 * Partial steps (a run starting or ending inside a step) go through the same
 * code with a lane mask: inactive lanes keep their state and claim no word.
 *
 * A step's latency (slot -> loads -> mullo -> renormalisation -> next slot) is
 * longer than its issue time, so the GEMV decodes two segments in lock step
 * (entq_avx2_dec_dot2): their independent chains fill each other's stalls.
 *
 * Why one u64 table read by scalar loads: the value comes with freq and bias,
 * so no code -> f32 conversion runs per weight, and E4M3, INT8 and custom
 * codebooks decode alike; 8 `vmovq`/`vmovhps` loads cost less than a
 * `vpgatherdq` pair on Zen 3 (docs/DESIGN.md, docs/BENCHMARKS.md).
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

struct entq_avx2_table {
    uint32_t prob_bits;
    alignas(64) uint64_t slot[1u << ENTQ_MAX_PROB_BITS];
};

/* O(2^b): one entry per slot of the stream's table (entq_parse has checked freq and cum;
 * freq <= 2^b fits 16 bits except for a one-symbol table at b = 16, beyond ENTQ_MAX_PROB_BITS). */
static inline void entq_avx2_build_table(const entq_info * in, const uint8_t * buf, entq_avx2_table * t) {
    static_assert(ENTQ_MAX_PROB_BITS < 16, "freq must fit the entry's 16 bits");
    t->prob_bits = in->prob_bits;
    for (uint32_t i = 0; i < in->n_sym; i++) {
        const uint32_t s = in->symbols[i], f = in->freq[s], c = in->cum[s];
        const uint64_t hi = (uint64_t) entq_f32_bits(entq_codebook_value(in, buf, s)) << 32;
        for (uint32_t k = 0; k < f; k++) t->slot[c + k] = hi | (k << 16) | f;
    }
}

static inline bool entq_avx2_available(void) {
    static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt");
    return ok;
}

namespace entq_avx2 {

/* ctl[m]: the vpshufb control that moves word r (bytes 2r, 2r+1 of the 16
 * loaded, present in both 128-bit halves) to lane j when bit j of m is set and
 * r is the rank of j among the set bits; lanes with a clear bit get 0. */
struct Shuffle {
    alignas(32) uint8_t ctl[256][32];
    constexpr Shuffle() : ctl() {
        for (int m = 0; m < 256; m++)
            for (int j = 0, r = 0; j < 8; j++) {
                const bool on = (m >> j) & 1;
                ctl[m][4 * j] = on ? (uint8_t) (2 * r) : 0x80;
                ctl[m][4 * j + 1] = on ? (uint8_t) (2 * r + 1) : 0x80;
                ctl[m][4 * j + 2] = ctl[m][4 * j + 3] = 0x80;
                r += on;
            }
    }
};
static constexpr Shuffle shuffle{};

struct Entry {
    __m256i freq, bias;
    __m256 val;
};

/* The 8 lanes' entries: slots to GPRs (vmovq/vpextrq), u64 loads paired by
 * vmovq + vmovhps into lanes {0,1,4,5} and {2,3,6,7}, so that the even/odd
 * dword shuffles come out in lane order. */
ENTQ_AVX2_FN static inline Entry lookup(const entq_avx2_table * t, __m256i slot) {
    const uint64_t * e = t->slot;
    const __m128i lo = _mm256_castsi256_si128(slot), hi = _mm256_extracti128_si256(slot, 1);
    const uint64_t a = (uint64_t) _mm_cvtsi128_si64(lo), b = (uint64_t) _mm_extract_epi64(lo, 1);
    const uint64_t c = (uint64_t) _mm_cvtsi128_si64(hi), d = (uint64_t) _mm_extract_epi64(hi, 1);
    __m128d p0 = _mm_castsi128_pd(_mm_loadl_epi64((const __m128i *) (e + (uint32_t) a)));
    __m128d p1 = _mm_castsi128_pd(_mm_loadl_epi64((const __m128i *) (e + (uint32_t) b)));
    __m128d p2 = _mm_castsi128_pd(_mm_loadl_epi64((const __m128i *) (e + (uint32_t) c)));
    __m128d p3 = _mm_castsi128_pd(_mm_loadl_epi64((const __m128i *) (e + (uint32_t) d)));
    p0 = _mm_loadh_pd(p0, (const double *) (e + (a >> 32)));
    p1 = _mm_loadh_pd(p1, (const double *) (e + (b >> 32)));
    p2 = _mm_loadh_pd(p2, (const double *) (e + (c >> 32)));
    p3 = _mm_loadh_pd(p3, (const double *) (e + (d >> 32)));
    const __m256 g0 = _mm256_castpd_ps(_mm256_insertf128_pd(_mm256_castpd128_pd256(p0), p2, 1));  // lanes 0 1 | 4 5
    const __m256 g1 = _mm256_castpd_ps(_mm256_insertf128_pd(_mm256_castpd128_pd256(p1), p3, 1));  // lanes 2 3 | 6 7
    const __m256i fb = _mm256_castps_si256(_mm256_shuffle_ps(g0, g1, 0x88));
    return {_mm256_and_si256(fb, _mm256_set1_epi32(0xffff)), _mm256_srli_epi32(fb, 16), _mm256_shuffle_ps(g0, g1, 0xDD)};
}

/* The sum of a vector's 8 lanes, in a fixed order. */
ENTQ_AVX2_FN static inline float hsum(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* One decoder's lanes in registers during a run. */
struct Lanes {
    __m256i x[4];
    const uint8_t * words;
    uint64_t nwords, ptr;
};

/* Sinks receive, per vector v of a step, the lanes' values (and slots), at
 * output position pos + 8v (pos = step's lane 0 relative to the run's first
 * symbol; negative for a run that starts inside a step). Masked calls carry
 * the active lanes; inactive lanes must not be written or counted. */
struct DotSink {
    const float * act;
    __m256 acc;  // one accumulator: FMA latency is far below a step's, and registers are scarce with two decoders
    ENTQ_AVX2_FN const float * at(int64_t pos) const { return (const float *) ((uintptr_t) act + (intptr_t) (4 * pos)); }
    ENTQ_AVX2_FN void full(int v, int64_t pos, __m256i, __m256 val) { acc = _mm256_fmadd_ps(val, _mm256_loadu_ps(at(pos + 8 * v)), acc); }
    ENTQ_AVX2_FN void masked(int v, int64_t pos, __m256i, __m256 val, __m256i on) {
        acc = _mm256_fmadd_ps(val, _mm256_maskload_ps(at(pos + 8 * v), on), acc);  // inactive lanes load 0
    }
    ENTQ_AVX2_FN float sum() const { return hsum(acc); }
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
ENTQ_AVX2_FN static inline void step(const entq_avx2_table * t, Lanes & l, const __m256i * on, int64_t pos, Sink & sink) {
    const __m256i mask = _mm256_set1_epi32((int) ((1u << t->prob_bits) - 1));
    const __m256i b = _mm256_set1_epi32((int) t->prob_bits);
    __m256i nx[4];
    for (int v = 0; v < 4; v++) {
        const __m256i slot = _mm256_and_si256(l.x[v], mask);
        const Entry e = lookup(t, slot);
        nx[v] = _mm256_add_epi32(_mm256_mullo_epi32(e.freq, _mm256_srlv_epi32(l.x[v], b)), e.bias);
        if (MASKED) {
            nx[v] = _mm256_blendv_epi8(l.x[v], nx[v], on[v]);
            sink.masked(v, pos, slot, e.val, on[v]);
        } else {
            sink.full(v, pos, slot, e.val);
        }
    }
    const bool fast = !MASKED && l.ptr + 32 <= l.nwords;
    const uint64_t last = l.nwords ? l.nwords - 1 : 0;  // entq_dec_init points an empty segment at a zero word
    for (int v = 0; v < 4; v++) {
        __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(nx[v], 16), _mm256_setzero_si256());
        if (MASKED) need = _mm256_and_si256(need, on[v]);
        const unsigned m = (unsigned) _mm256_movemask_ps(_mm256_castsi256_ps(need));
        __m128i w8;
        if (fast) {
            w8 = _mm_loadu_si128((const __m128i *) (l.words + 2 * l.ptr));
        } else {
            alignas(16) uint16_t c[8];
            for (uint64_t j = 0; j < 8; j++) c[j] = entq_rd16(l.words + 2 * (l.ptr + j < last ? l.ptr + j : last));
            w8 = _mm_load_si128((const __m128i *) c);
        }
        const __m256i w = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(w8), _mm256_load_si256((const __m256i *) shuffle.ctl[m]));
        l.x[v] = _mm256_or_si256(_mm256_sllv_epi32(nx[v], _mm256_and_si256(need, _mm256_set1_epi32(16))), w);
        l.ptr += (uint64_t) _mm_popcnt_u32(m);
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

/* Decodes symbols [i, i + n) of D segments in lock step (every d[k]->i equal,
 * n <= count - i for each), resumable at any symbol like entq_dec_run. */
template <int D, class Sink>
ENTQ_AVX2_FN static inline void run(const entq_avx2_table * t, entq_decoder * const * d, uint64_t n, Sink * sink) {
    Lanes l[D];
    __m256i on[4];
    for (int k = 0; k < D; k++) {
        for (int v = 0; v < 4; v++) l[k].x[v] = _mm256_loadu_si256((const __m256i *) (d[k]->x + 8 * v));
        l[k].words = d[k]->words;
        l[k].nwords = d[k]->nwords;
        l[k].ptr = d[k]->ptr;
    }
    uint64_t i = d[0]->i;
    const uint64_t stop = i + n;
    int64_t pos = -(int64_t) (i % ENTQ_LANES);
    if (i % ENTQ_LANES && i < stop) {  // the rest of a step begun by an earlier call
        const uint32_t lo = (uint32_t) (i % ENTQ_LANES), hi = (uint32_t) (stop - i + lo < ENTQ_LANES ? stop - i + lo : ENTQ_LANES);
        lane_mask(lo, hi, on);
        for (int k = 0; k < D; k++) step<true>(t, l[k], on, pos, sink[k]);
        i += hi - lo;
        pos += ENTQ_LANES;
    }
    for (; stop - i >= ENTQ_LANES; i += ENTQ_LANES, pos += ENTQ_LANES)
        for (int k = 0; k < D; k++) step<false>(t, l[k], on, pos, sink[k]);
    if (i < stop) {  // a step this call ends inside
        lane_mask(0, (uint32_t) (stop - i), on);
        for (int k = 0; k < D; k++) step<true>(t, l[k], on, pos, sink[k]);
        i = stop;
    }
    for (int k = 0; k < D; k++) {
        for (int v = 0; v < 4; v++) _mm256_storeu_si256((__m256i *) (d[k]->x + 8 * v), l[k].x[v]);
        d[k]->ptr = l[k].ptr;
        d[k]->i = i;
    }
}

}  // namespace entq_avx2

/* sum over the next n symbols of codebook[code] * act[k] (k = 0..n-1), the row
 * scale left to the caller. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static float entq_avx2_dec_dot(const entq_avx2_table * t, entq_decoder * d, uint64_t n, const float * act) {
    entq_avx2::DotSink s{act, _mm256_setzero_ps()};
    entq_avx2::run<1>(t, &d, n, &s);
    return s.sum();
}

/* entq_avx2_dec_dot for two segments at once, both at the same symbol index
 * (d0->i == d1->i) with n symbols left in each: sums[k] from segment dk, the
 * same values entq_avx2_dec_dot gives for each alone, at nearly the cost of one. */
ENTQ_AVX2_FN ENTQ_NOINLINE static void entq_avx2_dec_dot2(const entq_avx2_table * t, entq_decoder * d0, entq_decoder * d1, uint64_t n,
                                                          const float * act, float sums[2]) {
    entq_decoder * const d[2] = {d0, d1};
    entq_avx2::DotSink s[2] = {{act, _mm256_setzero_ps()}, {act, _mm256_setzero_ps()}};
    entq_avx2::run<2>(t, d, n, s);
    sums[0] = s[0].sum();
    sums[1] = s[1].sum();
}

/* out[k] = codebook[code] * scale for the next n symbols: with scale = the row's
 * scale, exactly the values of entq_decode_dequantize. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static void entq_avx2_dec_values(const entq_avx2_table * t, entq_decoder * d, uint64_t n, float scale, float * out) {
    entq_avx2::ValueSink s{out, _mm256_set1_ps(scale)};
    entq_avx2::run<1>(t, &d, n, &s);
}

/* The next n symbols as codes, sym being the reference table's slot -> symbol
 * map (entq_dtable::sym): for bit-exactness tests. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static void entq_avx2_dec_codes(const entq_avx2_table * t, const uint8_t * sym, entq_decoder * d, uint64_t n, uint8_t * out) {
    entq_avx2::CodeSink s{out, sym};
    entq_avx2::run<1>(t, &d, n, &s);
}

#endif /* ENTQ_AVX2_DECODER */
#endif /* ENTQ_DECODE_AVX2_H */
