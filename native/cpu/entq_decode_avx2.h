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

/* How a slot becomes {freq, bias, value}:
 *   WIDE (any stream): u64 {freq:16 | bias:16 | codebook value f32:32}
 *   E4M3, INT8 (prob_bits <= 12, >= 2 symbols): u32 {freq:12 | bias:12 | code:8},
 *     the value computed from the code in registers (exact: the same f32 as
 *     the codebook). Half the table, and no second field to shuffle out. */
enum entq_avx2_layout : uint32_t { ENTQ_AVX2_WIDE, ENTQ_AVX2_E4M3, ENTQ_AVX2_INT8 };

struct entq_avx2_table {
    uint32_t prob_bits;
    entq_avx2_layout layout;
    union alignas(64) {
        uint64_t wide[1u << ENTQ_MAX_PROB_BITS];
        uint32_t compact[1u << 12];
    };
};

/* O(2^b): one entry per slot of the stream's table (entq_parse has checked freq and cum). */
static inline void entq_avx2_build_table(const entq_info * in, const uint8_t * buf, entq_avx2_table * t) {
    t->prob_bits = in->prob_bits;
    const bool compact = in->prob_bits <= 12 && in->n_sym >= 2;  // then every freq < 4096
    t->layout = !compact                             ? ENTQ_AVX2_WIDE
                : in->code_kind == ENTQ_CODES_INT8   ? ENTQ_AVX2_INT8
                : in->code_kind == ENTQ_CODES_E4M3 ? ENTQ_AVX2_E4M3
                                                     : ENTQ_AVX2_WIDE;
    for (uint32_t i = 0; i < in->n_sym; i++) {
        const uint32_t s = in->symbols[i], f = in->freq[s], c = in->cum[s];
        if (t->layout == ENTQ_AVX2_WIDE) {
            const uint64_t hi = (uint64_t) entq_f32_bits(entq_codebook_value(in, buf, s)) << 32;
            for (uint32_t k = 0; k < f; k++) t->wide[c + k] = hi | (k << 16) | f;
        } else {
            for (uint32_t k = 0; k < f; k++) t->compact[c + k] = s << 24 | k << 12 | f;
        }
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

struct Entry {
    __m256i freq, bias;
    __m256 val;
};

struct Wide {
    ENTQ_AVX2_FN static Entry get(const entq_avx2_table * t, __m256i slot) {
        // gather lanes {0,1,4,5} and {2,3,6,7}: the even/odd dword shuffles then come out in lane order
        const __m256i sp = _mm256_permute4x64_epi64(slot, 0xD8);
        const __m256 g0 = _mm256_castsi256_ps(_mm256_i32gather_epi64((const long long *) t->wide, _mm256_castsi256_si128(sp), 8));
        const __m256 g1 = _mm256_castsi256_ps(_mm256_i32gather_epi64((const long long *) t->wide, _mm256_extracti128_si256(sp, 1), 8));
        const __m256i fb = _mm256_castps_si256(_mm256_shuffle_ps(g0, g1, 0x88));
        return {_mm256_and_si256(fb, _mm256_set1_epi32(0xffff)), _mm256_srli_epi32(fb, 16), _mm256_shuffle_ps(g0, g1, 0xDD)};
    }
};

/* Eight u32 loads by index. On this Zen 3 a vpgatherdd ymm costs ~12 cycles;
 * scalar loads and inserts cost about half, and the fused GEMV runs ~1.2x
 * faster with them (docs/BENCHMARKS.md). */
ENTQ_AVX2_FN static inline __m256i load8(const uint32_t * t, __m256i idx) {
    const __m128i lo = _mm256_castsi256_si128(idx), hi = _mm256_extracti128_si256(idx, 1);
    const uint64_t a = (uint64_t) _mm_cvtsi128_si64(lo), b = (uint64_t) _mm_extract_epi64(lo, 1);
    const uint64_t c = (uint64_t) _mm_cvtsi128_si64(hi), d = (uint64_t) _mm_extract_epi64(hi, 1);
    __m128i r0 = _mm_cvtsi32_si128((int) t[(uint32_t) a]);
    __m128i r1 = _mm_cvtsi32_si128((int) t[(uint32_t) c]);
    r0 = _mm_insert_epi32(r0, (int) t[a >> 32], 1);
    r1 = _mm_insert_epi32(r1, (int) t[c >> 32], 1);
    r0 = _mm_insert_epi32(r0, (int) t[(uint32_t) b], 2);
    r1 = _mm_insert_epi32(r1, (int) t[(uint32_t) d], 2);
    r0 = _mm_insert_epi32(r0, (int) t[b >> 32], 3);
    r1 = _mm_insert_epi32(r1, (int) t[d >> 32], 3);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(r0), r1, 1);
}

/* f32 bits of the E4M3 subnormals m * 2^-9, m = 0..7. */
ENTQ_AVX2_FN static inline __m256i subnormal_e4m3() {
    return _mm256_setr_epi32(0, 0x3B000000, 0x3B800000, 0x3BC00000, 0x3C000000, 0x3C200000, 0x3C400000, 0x3C600000);
}

template <entq_avx2_layout L>
struct Compact {
    ENTQ_AVX2_FN static Entry get(const entq_avx2_table * t, __m256i slot) {
        const __m256i e = load8(t->compact, slot);
        const __m256i m12 = _mm256_set1_epi32(0xfff);
        __m256 val;
        if (L == ENTQ_AVX2_E4M3) {
            // normal codes: sign, exponent and mantissa moved to f32 positions (bits 20-26), exponent bias
            // 7 -> 127; subnormal codes (exponent 0, m * 2^-9) from an 8-entry table by m. No f32
            // subnormal is ever formed: Zen takes a ~10x slower path on those.
            const __m256i bits = _mm256_and_si256(_mm256_srai_epi32(e, 4), _mm256_set1_epi32((int) 0x87F00000u));
            const __m256i normal = _mm256_add_epi32(bits, _mm256_set1_epi32(120 << 23));
            const __m256i sub = _mm256_permutevar8x32_epi32(subnormal_e4m3(), _mm256_srli_epi32(e, 24));  // index: low 3 bits = m
            const __m256i e0 = _mm256_cmpeq_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x07800000)), _mm256_setzero_si256());
            const __m256i sign = _mm256_and_si256(bits, _mm256_set1_epi32((int) 0x80000000u));
            val = _mm256_castsi256_ps(_mm256_or_si256(_mm256_blendv_epi8(normal, sub, e0), sign));
        } else {
            val = _mm256_cvtepi32_ps(_mm256_srai_epi32(e, 24));
        }
        return {_mm256_and_si256(e, m12), _mm256_and_si256(_mm256_srli_epi32(e, 12), m12), val};
    }
};

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
    __m256 acc[4];
    ENTQ_AVX2_FN const float * at(int64_t pos) const { return (const float *) ((uintptr_t) act + (intptr_t) (4 * pos)); }
    ENTQ_AVX2_FN void full(int v, int64_t pos, __m256i, __m256 val) { acc[v] = _mm256_fmadd_ps(val, _mm256_loadu_ps(at(pos + 8 * v)), acc[v]); }
    ENTQ_AVX2_FN void masked(int v, int64_t pos, __m256i, __m256 val, __m256i on) {
        acc[v] = _mm256_fmadd_ps(val, _mm256_maskload_ps(at(pos + 8 * v), on), acc[v]);  // inactive lanes load 0
    }
    ENTQ_AVX2_FN float sum() const {
        const __m256 a = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
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
template <bool MASKED, class Lookup, class Sink>
ENTQ_AVX2_FN static inline void step(const entq_avx2_table * t, Lanes & l, const __m256i * on, int64_t pos, Sink & sink) {
    const __m256i mask = _mm256_set1_epi32((int) ((1u << t->prob_bits) - 1));
    const __m128i b = _mm_cvtsi32_si128((int) t->prob_bits);
    __m256i nx[4];
    for (int v = 0; v < 4; v++) {
        const __m256i slot = _mm256_and_si256(l.x[v], mask);
        const Entry e = Lookup::get(t, slot);
        nx[v] = _mm256_add_epi32(_mm256_mullo_epi32(e.freq, _mm256_srl_epi32(l.x[v], b)), e.bias);
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
        __m256i w;
        if (fast) {
            w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) (l.words + 2 * l.ptr)));
        } else {
            alignas(32) uint32_t c[8];
            for (uint64_t j = 0; j < 8; j++) c[j] = entq_rd16(l.words + 2 * (l.ptr + j < last ? l.ptr + j : last));
            w = _mm256_load_si256((const __m256i *) c);
        }
        w = _mm256_permutevar8x32_epi32(w, _mm256_load_si256((const __m256i *) perm.idx[m]));
        l.x[v] = _mm256_blendv_epi8(nx[v], _mm256_or_si256(_mm256_slli_epi32(nx[v], 16), w), need);
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

/* Decodes symbols [d->i, d->i + n) of the segment into the sink (n <= count - i),
 * resumable at any symbol like entq_dec_run. */
template <class Lookup, class Sink>
ENTQ_AVX2_FN static inline void run(const entq_avx2_table * t, entq_decoder * d, uint64_t n, Sink & sink) {
    Lanes l;
    __m256i on[4];
    for (int v = 0; v < 4; v++) l.x[v] = _mm256_loadu_si256((const __m256i *) (d->x + 8 * v));
    l.words = d->words;
    l.nwords = d->nwords;
    l.ptr = d->ptr;
    uint64_t i = d->i;
    const uint64_t stop = i + n;
    int64_t pos = -(int64_t) (i % ENTQ_LANES);
    if (i % ENTQ_LANES && i < stop) {  // the rest of a step begun by an earlier call
        const uint32_t lo = (uint32_t) (i % ENTQ_LANES), hi = (uint32_t) (stop - i + lo < ENTQ_LANES ? stop - i + lo : ENTQ_LANES);
        lane_mask(lo, hi, on);
        step<true, Lookup>(t, l, on, pos, sink);
        i += hi - lo;
        pos += ENTQ_LANES;
    }
    for (; stop - i >= ENTQ_LANES; i += ENTQ_LANES, pos += ENTQ_LANES) step<false, Lookup>(t, l, on, pos, sink);
    if (i < stop) {  // a step this call ends inside
        lane_mask(0, (uint32_t) (stop - i), on);
        step<true, Lookup>(t, l, on, pos, sink);
        i = stop;
    }
    for (int v = 0; v < 4; v++) _mm256_storeu_si256((__m256i *) (d->x + 8 * v), l.x[v]);
    d->ptr = l.ptr;
    d->i = i;
}

template <class Sink>
ENTQ_AVX2_FN static inline void run_any(const entq_avx2_table * t, entq_decoder * d, uint64_t n, Sink & sink) {
    switch (t->layout) {
    case ENTQ_AVX2_E4M3: run<Compact<ENTQ_AVX2_E4M3>>(t, d, n, sink); break;
    case ENTQ_AVX2_INT8: run<Compact<ENTQ_AVX2_INT8>>(t, d, n, sink); break;
    default: run<Wide>(t, d, n, sink); break;
    }
}

}  // namespace entq_avx2

/* sum over the next n symbols of codebook[code] * act[k] (k = 0..n-1), the row
 * scale left to the caller. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static float entq_avx2_dec_dot(const entq_avx2_table * t, entq_decoder * d, uint64_t n, const float * act) {
    entq_avx2::DotSink s{act, {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()}};
    entq_avx2::run_any(t, d, n, s);
    return s.sum();
}

/* out[k] = codebook[code] * scale for the next n symbols: with scale = the row's
 * scale, exactly the values of entq_decode_dequantize. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static void entq_avx2_dec_values(const entq_avx2_table * t, entq_decoder * d, uint64_t n, float scale, float * out) {
    entq_avx2::ValueSink s{out, _mm256_set1_ps(scale)};
    entq_avx2::run_any(t, d, n, s);
}

/* The next n symbols as codes, sym being the reference table's slot -> symbol
 * map (entq_dtable::sym): for bit-exactness tests. Requires entq_avx2_available(). */
ENTQ_AVX2_FN ENTQ_NOINLINE static void entq_avx2_dec_codes(const entq_avx2_table * t, const uint8_t * sym, entq_decoder * d, uint64_t n, uint8_t * out) {
    entq_avx2::CodeSink s{out, sym};
    entq_avx2::run_any(t, d, n, s);
}

#endif /* ENTQ_AVX2_DECODER */
#endif /* ENTQ_DECODE_AVX2_H */
