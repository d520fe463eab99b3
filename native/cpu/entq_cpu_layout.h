/* entq_cpu_layout.h - the CPU's in-memory layout of a coded weight, built at
 * load from the file's ENTQ stream (entq_repack.h) and decoded by the
 * ggml-cpu kernel. It holds exactly the stream's codes, as int8 "levels"
 * (value = level * unit * row_scale), coded with a length-limited prefix
 * code that a CPU decodes several symbols per table lookup.
 *
 * Why: rANS costs ~1.8 cycles per weight on an AVX2 core (a lookup, a
 * multiply and a renormalisation per symbol); a prefix code read through an
 * 11-bit table yields ~3-4 symbols per lookup at 2-3 bits/weight, and the
 * levels meet f32 activations as exact integers (docs/DESIGN.md, "CPU layout").
 *
 * Layout (one host-endian block; built and read by the same process):
 *
 *   entq_layout          this header
 *   row scales           N x f16, copied from the stream
 *   code list            n_codes x {len, level a, level b}: the prefix code in
 *                        canonical order (by length, then list order); b is
 *                        used by pair codes only
 *   stream starts        n_groups * 12 + 1 x u32 byte offsets into the payload
 *   payload              the streams, each byte-aligned, LSB first, then
 *                        ENTQ_LAYOUT_PAD zero bytes
 *
 * Rows are grouped: group g holds rows [g G, g G + G), G = 12 R; its stream s
 * (0..11) holds rows g G + 12 j + s, j < R, one after another, so decoding the
 * 12 streams of a group yields 12 consecutive rows per j. A stream is the
 * sequence of its rows' symbols, or of pairs of them (pair codes; an odd
 * count is padded with a copy of the last symbol).
 *
 * The decode table has 2^ENTQ_LAYOUT_TABLE_BITS u64 entries, one per value of
 * the next 11 stream bits: bytes 0-5 the levels of the whole code words those
 * bits begin with (at most 6 symbols), byte 6 the bits they use, byte 7 how
 * many symbols. Every code word is at most 11 bits, so an entry always holds
 * at least one.
 */
#ifndef ENTQ_CPU_LAYOUT_H
#define ENTQ_CPU_LAYOUT_H

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu/entq_prefix_code.h"
#include "stream/entq_format.h"

#define ENTQ_LAYOUT_MAGIC 0x4c51544eu  /* "NTQL" read as a little-endian u32; not "ENTQ", so no stream is taken for one */
#define ENTQ_LAYOUT_TABLE_BITS 11
#define ENTQ_LAYOUT_STREAMS 12         /* streams per group: decoded together */
#define ENTQ_LAYOUT_SLOTS 6            /* streams decoded at once, interleaved */
#define ENTQ_LAYOUT_MAX_SYMS 6         /* symbols per table entry */
#define ENTQ_LAYOUT_PAD 16             /* zero bytes after the payload: 8-byte reads past a stream's end stay inside */
#define ENTQ_LAYOUT_OVERRUN 32         /* bytes a decoded stream may write past its last symbol */
/* a step (5 lookups) starts before the stream's end; its last lookup stores 8 bytes */
static_assert(4 * ENTQ_LAYOUT_MAX_SYMS + 8 <= ENTQ_LAYOUT_OVERRUN, "overrun too small");

struct entq_layout {
    uint32_t magic;
    uint32_t K, N;
    uint32_t rows_per_stream;   /* R */
    uint32_t n_groups;
    uint32_t n_codes;
    uint8_t pair_code;          /* code words stand for two symbols */
    uint8_t code_kind;          /* the stream's, for reports */
    uint8_t reserved[2];
    float unit;                 /* value = level * unit * f16 row scale (the stream's scale_base folded in) */
    uint64_t bytes;             /* the whole block */
    uint64_t scales_off, codes_off, starts_off, payload_off;
};

struct entq_layout_code {
    uint8_t len;
    int8_t a, b;
};

static inline uint32_t entq_layout_group_rows(const entq_layout * L) { return ENTQ_LAYOUT_STREAMS * L->rows_per_stream; }

/* Rows of stream s of group g (the last group may be short). */
static inline uint32_t entq_layout_stream_rows(const entq_layout * L, uint32_t g, uint32_t s) {
    const uint32_t r0 = g * entq_layout_group_rows(L) + s;
    return r0 >= L->N ? 0 : std::min(L->rows_per_stream, (L->N - r0 + ENTQ_LAYOUT_STREAMS - 1) / ENTQ_LAYOUT_STREAMS);
}

static inline const uint8_t * entq_layout_base(const entq_layout * L) { return (const uint8_t *) L; }

static inline float entq_layout_row_scale(const entq_layout * L, uint32_t row) {
    uint16_t h;
    memcpy(&h, entq_layout_base(L) + L->scales_off + 2 * (uint64_t) row, 2);
    return L->unit * entq_f16_to_f32(h);
}

static inline const entq_layout_code * entq_layout_codes(const entq_layout * L) {
    return (const entq_layout_code *) (entq_layout_base(L) + L->codes_off);
}

static inline const uint32_t * entq_layout_starts(const entq_layout * L) {
    return (const uint32_t *) (entq_layout_base(L) + L->starts_off);
}

/* The decode table (see the top comment); O(2^11 x symbols per entry). */
static inline void entq_layout_build_table(const entq_layout * L, uint64_t * tab) {
    constexpr uint32_t T = ENTQ_LAYOUT_TABLE_BITS, M = 1u << T;
    const entq_layout_code * codes = entq_layout_codes(L);
    const uint32_t n = L->n_codes, width = L->pair_code ? 2 : 1;
    // first[i]: the code word the bits i begin with (index into codes), its length in len_of
    uint16_t first[M];
    uint8_t len_of[M];
    uint8_t lens[256 * 8];  // n_codes <= 2^T
    uint32_t words[M];
    for (uint32_t c = 0; c < n; c++) lens[c] = codes[c].len;
    entq_prefix_codewords(lens, n, words);
    for (uint32_t c = 0; c < n; c++) {
        const uint32_t l = codes[c].len;
        for (uint32_t hi = 0; hi < (M >> l); hi++) {
            first[words[c] | (hi << l)] = (uint16_t) c;
            len_of[words[c] | (hi << l)] = (uint8_t) l;
        }
    }
    for (uint32_t i = 0; i < M; i++) {
        uint8_t out[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        uint32_t used = 0, ns = 0;
        while (ns + width <= ENTQ_LAYOUT_MAX_SYMS) {
            const uint32_t j = (i >> used) & (M - 1);  // bits past T read as 0: valid only if the word fits
            if (used + len_of[j] > T) break;
            const entq_layout_code & c = codes[first[j]];
            out[ns++] = (uint8_t) c.a;
            if (width == 2) out[ns++] = (uint8_t) c.b;
            used += len_of[j];
            if (len_of[j] == 0) {  // a one-word code: fill the entry, use no bits
                while (ns + width <= ENTQ_LAYOUT_MAX_SYMS) {
                    out[ns++] = (uint8_t) c.a;
                    if (width == 2) out[ns++] = (uint8_t) c.b;
                }
            }
        }
        out[6] = (uint8_t) used;
        out[7] = (uint8_t) ns;
        memcpy(tab + i, out, 8);
    }
}

/* Decodes stream s of group g: its rows' levels into out (rows x K, plus up to
 * ENTQ_LAYOUT_OVERRUN bytes written past them). The portable reference of
 * the fast decoder below: one stream, one table entry at a time. */
static inline void entq_layout_decode_stream(const entq_layout * L, const uint64_t * tab, uint32_t g, uint32_t s, int8_t * out) {
    const uint8_t * payload = entq_layout_base(L) + L->payload_off;
    const uint32_t idx = g * ENTQ_LAYOUT_STREAMS + s;
    uint64_t pos = (uint64_t) entq_layout_starts(L)[idx] * 8;
    int8_t * end = out + (uint64_t) entq_layout_stream_rows(L, g, s) * L->K;
    while (out < end) {
        uint64_t b;
        memcpy(&b, payload + (pos >> 3), 8);
        b = (b >> (pos & 7)) & ((1ull << 56) - 1);  // 56 valid bits: five lookups of <= 11
        uint32_t used = 0;
        for (int q = 0; q < 5; q++) {
            const uint64_t e = tab[b & ((1u << ENTQ_LAYOUT_TABLE_BITS) - 1)];
            memcpy(out, &e, 8);
            out += e >> 56;
            const uint32_t l = (uint32_t) (e >> 48) & 0xff;
            b >>= l;
            used += l;
        }
        pos += used;
    }
}

static inline uint32_t entq_layout_clz64(uint64_t x) {  // x != 0
#if defined(_MSC_VER) && !defined(__clang__)
    unsigned long i;
    _BitScanReverse64(&i, x);
    return 63u - (uint32_t) i;
#else
    return (uint32_t) __builtin_clzll(x);
#endif
}

#if defined(__GNUC__) || defined(__clang__)
#define ENTQ_LAYOUT_INLINE __attribute__((always_inline)) inline
#define ENTQ_LAYOUT_PREFETCH(p) __builtin_prefetch(p)
#define ENTQ_LAYOUT_UNROLL _Pragma("GCC unroll 5")
#else
#define ENTQ_LAYOUT_UNROLL
#define ENTQ_LAYOUT_INLINE inline
#define ENTQ_LAYOUT_PREFETCH(p) ((void) 0)
#endif

/* Where the decoding slots stand: each decodes one stream, p its bit position, o and e its output and end. */
struct entq_layout_slots {
    uint64_t p[ENTQ_LAYOUT_SLOTS];
    int8_t * o[ENTQ_LAYOUT_SLOTS];
    int8_t * e[ENTQ_LAYOUT_SLOTS];
};

/* Steps of the first W slots, interleaved, until one of them may be near its end (none is at it on entry).
 * A step (refill + 5 lookups) writes at most 5 x ENTQ_LAYOUT_MAX_SYMS symbols: while every slot has more
 * left than that, steps run without looking at the ends. */
template <int W>
static ENTQ_LAYOUT_INLINE void entq_layout_run(entq_layout_slots & sl, const uint8_t * P, const uint64_t * tab, uint64_t ahead) {
    constexpr uint32_t MASK = (1u << ENTQ_LAYOUT_TABLE_BITS) - 1;
    constexpr uint64_t MARK = 1ull << 56;
    constexpr uint32_t STEP_MAX = 5 * ENTQ_LAYOUT_MAX_SYMS;
    uint64_t safe = UINT64_MAX;
    for (int i = 0; i < W; i++) safe = std::min<uint64_t>(safe, (uint64_t) (sl.e[i] - sl.o[i] + STEP_MAX - 1) / STEP_MAX);
    uint64_t b[W], pp[W];
    int8_t * op[W];
    for (int i = 0; i < W; i++) {
        op[i] = sl.o[i];
        pp[i] = sl.p[i];
    }
    for (uint64_t step = 0; step < safe; step++) {
        for (int i = 0; i < W; i++) {  // 56 bits and a marker above them: five lookups of <= 11 bits
            memcpy(&b[i], P + (pp[i] >> 3), 8);
            b[i] = ((b[i] >> (pp[i] & 7)) & (MARK - 1)) | MARK;
            ENTQ_LAYOUT_PREFETCH(P + (pp[i] >> 3) + ahead);
        }
        ENTQ_LAYOUT_UNROLL for (int q = 0; q < 5; q++)
            for (int i = 0; i < W; i++) {  // up to 6 levels stored (8 bytes written), their count and bits read as bytes
                const uint8_t * ent = (const uint8_t *) (tab + ((uint32_t) b[i] & MASK));
                memcpy(op[i], ent, 8);
                op[i] += ent[7];
                b[i] >>= ent[6];
            }
        for (int i = 0; i < W; i++) pp[i] += entq_layout_clz64(b[i]) - 7;  // the bits used: where the marker went
    }
    for (int i = 0; i < W; i++) {
        sl.o[i] = op[i];
        sl.p[i] = pp[i];
    }
}

/* The body of entq_layout_decode_group, compiled twice: plainly, and for
 * x86 CPUs with BMI2/LZCNT (shifts by a register without CL, clz in one
 * instruction) behind a run-time check. */
static ENTQ_LAYOUT_INLINE void entq_layout_decode_group_body(const entq_layout * L, const uint64_t * tab, uint32_t g, int8_t * out,
                                                            size_t stride) {
    const uint8_t * P = entq_layout_base(L) + L->payload_off;
    const uint32_t * starts = entq_layout_starts(L) + (size_t) g * ENTQ_LAYOUT_STREAMS;
    // the weights come from memory once per multiply: each step prefetches its stream's bytes one group ahead
    const uint64_t ahead = starts[ENTQ_LAYOUT_STREAMS] - starts[0];
    entq_layout_slots sl;
    uint32_t next = 0;  // streams are handed to slots in order, as slots finish theirs
    auto open = [&](int i) {
        for (; next < ENTQ_LAYOUT_STREAMS; next++) {
            const uint32_t s = next;
            const uint64_t n = (uint64_t) entq_layout_stream_rows(L, g, s) * L->K;
            if (n == 0) continue;
            sl.p[i] = (uint64_t) starts[s] * 8;
            sl.o[i] = out + s * stride;
            sl.e[i] = sl.o[i] + n;
            next++;
            return true;
        }
        return false;
    };
    int n = 0;
    while (n < ENTQ_LAYOUT_SLOTS && open(n)) n++;
    while (n > 0) {
        switch (n) {  // as streams run out, the slots left keep running together
            case 6: entq_layout_run<6>(sl, P, tab, ahead); break;
            case 5: entq_layout_run<5>(sl, P, tab, ahead); break;
            case 4: entq_layout_run<4>(sl, P, tab, ahead); break;
            case 3: entq_layout_run<3>(sl, P, tab, ahead); break;
            case 2: entq_layout_run<2>(sl, P, tab, ahead); break;
            default: entq_layout_run<1>(sl, P, tab, ahead); break;
        }
        for (int i = 0; i < n; i++) {
            if (sl.o[i] < sl.e[i] || open(i)) continue;
            n--;  // no stream left for this slot: the last slot takes its place
            sl.p[i] = sl.p[n];
            sl.o[i] = sl.o[n];
            sl.e[i] = sl.e[n];
            i--;
        }
    }
}

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include "cpu/entq_cpuid.h"
__attribute__((target("bmi,bmi2,lzcnt"), noinline)) static void entq_layout_decode_group_bmi2(const entq_layout * L, const uint64_t * tab,
                                                                                            uint32_t g, int8_t * out, size_t stride) {
    entq_layout_decode_group_body(L, tab, g, out, stride);
}
static inline bool entq_layout_bmi2_available(void) {
    static const bool ok = entq_cpu_has_bmi2_lzcnt();  // not __builtin_cpu_supports("abm"): Clang has no such name
    return ok;
}
#define ENTQ_LAYOUT_BMI2 1
#else
#define ENTQ_LAYOUT_BMI2 0
#endif

/* All 12 streams of group g, stream s into out + s * stride (rows x K levels
 * each, plus up to ENTQ_LAYOUT_OVERRUN bytes past them); the same symbols as
 * entq_layout_decode_stream.
 *
 * Speed: a lookup's chain (mask -> table load -> shift) is ~7 cycles while
 * its work is ~9 instructions, so ENTQ_LAYOUT_SLOTS streams run interleaved
 * (6: their state fills the 16 general registers; 8 spilled and ran 10%
 * slower), each slot taking the group's next stream when its own ends, and
 * the slots left running together when no stream is left (streams differ in
 * length by row: a slot finishing alone ran ~6x slower per symbol, up to a
 * third of the time in llama.cpp). Each refill gives 56 bits (five lookups of
 * <= 11), with a marker bit above them so that the bits used are counted by
 * one clz instead of an add per lookup; a lookup's symbol count and bit count
 * are byte loads (the load ports have room, the ALUs less). */
static inline void entq_layout_decode_group(const entq_layout * L, const uint64_t * tab, uint32_t g, int8_t * out, size_t stride) {
#if ENTQ_LAYOUT_BMI2
    if (entq_layout_bmi2_available()) return entq_layout_decode_group_bmi2(L, tab, g, out, stride);
#endif
    entq_layout_decode_group_body(L, tab, g, out, stride);
}

#endif /* ENTQ_CPU_LAYOUT_H */
