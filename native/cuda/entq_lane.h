/* entq_lane.h - the warp's lane schedule for one ENTQ segment, written once
 * for the CUDA kernels and for the CPU twin that tests them without a GPU.
 *
 * A segment is 32 interleaved rANS lanes over one shared stream of u16 words
 * (native/stream/entq_format.h). Lane l owns symbols l, l+32, l+64, ...; at
 * every step all lanes decode, then the lanes whose state fell below L claim
 * one word each in ascending lane order: lane l's word is
 *     words[ptr + popc(ballot & lanes_below(l))],   ptr += popc(ballot).
 * That is exactly the order of the reference decoder (entq_decode.h), so the
 * symbols agree bit for bit, including its clamp of reads past the segment's
 * last word (a corrupt segment decodes garbage, never reads outside itself,
 * and fails the end-of-segment check just as the reference does).
 *
 * The code is templated on a warp policy W. W::N is how many lanes one
 * caller runs: 1 on a GPU (a thread is a lane, ballot is __ballot_sync,
 * reductions are shuffles), 32 on the CPU (a loop over lanes, ballot and
 * shuffles emulated on arrays). Every per-lane statement is the same source
 * for both, so the CPU twin executes the kernel's schedule and arithmetic.
 *
 * Words reach lanes through a ring of ENTQ_RING_WORDS u16 per warp (shared
 * memory on a GPU): a refill stores a chunk of 64 words (one u32 per lane,
 * one coalesced 128-byte load) that was loaded ENTQ_RING_PREFETCH refills earlier, so the
 * global-memory latency stays off the decode chain, which is
 *   slot = x & (M-1) -> table[slot] -> y = freq * (x >> b) + bias -> ballot -> word.
 * The ring is stored twice in a row (ENTQ_RING_ALLOC_WORDS), so a step's 32
 * words start at ring + (ptr mod ENTQ_RING_WORDS) and never wrap: a lane's
 * word address is one add from its prefix count, no mask on the chain.
 */
#ifndef ENTQ_LANE_H
#define ENTQ_LANE_H

#include <math.h>

#include "../stream/entq_rans.h"

#define ENTQ_RING_WORDS 256u  /* u16 words staged per warp; a power of two */
#define ENTQ_RING_CHUNK 64u   /* words per refill: one u32 pair per lane */
#define ENTQ_RING_ALLOC_WORDS (2u * ENTQ_RING_WORDS) /* the ring and its mirror */
#define ENTQ_RING_PREFETCH 3u /* chunks loaded ahead of the ring, in registers */
#define ENTQ_LANE_UNROLL 4u   /* steps between ring checks on the fast path */

/* A refill writes ring positions that held the words staged
 * ENTQ_RING_WORDS earlier; those must have been claimed before the previous
 * refill's warp barrier. A refill happens while fewer than `need` words are
 * staged (need <= 32 * ENTQ_LANE_UNROLL), so the ring must hold
 * need + 2 chunks. */
#if ENTQ_RING_WORDS < 32u * ENTQ_LANE_UNROLL + ENTQ_RING_CHUNK + ENTQ_RING_CHUNK
#error "ENTQ_RING_WORDS too small for ENTQ_LANE_UNROLL"
#endif

/* The decode table as the kernels read it: 8 bytes per slot, so one load
 * gives the rANS step (freq, slot - cum) and the codebook value.
 * (A 4-byte form, freq | sym << 12 | bias << 20 for prob_bits <= 11 with the
 * value from a 256-entry codebook, halved the shared memory but measured
 * slower on an H100: the extra lookup and field masks cost more than its fewer
 * bank conflicts saved, and the warps per SM are capped by the segment count,
 * not by shared memory. native/cuda/NOTES.md, runs 2-5.) */
typedef struct alignas(8) entq_lane_slot {
    uint32_t freq_bias; /* freq | (slot - cum[sym]) << 16; freq <= 2^14 and bias < 2^14 fit u16 */
    uint32_t value;     /* f32 bits of codebook[sym] (unscaled) */
} entq_lane_slot;

struct entq_lane_table {
    const entq_lane_slot *slots; /* 2^prob_bits */
    /* y = freq * (x >> b) + bias for the slot; the value's f32 bits in *value */
    ENTQ_HD uint32_t advance(uint32_t slot, uint32_t x, uint32_t b, uint32_t *value) const {
        const entq_lane_slot e = slots[slot];
        *value = e.value;
        return (e.freq_bias & 0xffffu) * (x >> b) + (e.freq_bias >> 16);
    }
};

/* Bytes of the table in shared memory. */
ENTQ_HD static inline uint64_t entq_lane_table_bytes(uint32_t prob_bits) { return (uint64_t)sizeof(entq_lane_slot) << prob_bits; }

/* Host: fills slots[0, 2^prob_bits) and, when sym is not null, the symbol of each slot. */
static inline void entq_lane_build_table(const entq_info *in, const uint8_t *buf, entq_lane_slot *slots, uint8_t *sym) {
    for (uint32_t i = 0; i < in->n_sym; i++) {
        uint32_t s = in->symbols[i];
        uint32_t v = entq_f32_bits(entq_codebook_value(in, buf, s));
        for (uint32_t k = 0; k < in->freq[s]; k++) {
            uint32_t slot = in->cum[s] + k;
            slots[slot].freq_bias = in->freq[s] | (k << 16);
            slots[slot].value = v;
            if (sym) sym[slot] = (uint8_t)s;
        }
    }
}

ENTQ_HD static inline uint32_t entq_popc(uint32_t v) {
#if defined(__CUDA_ARCH__)
    return (uint32_t)__popc(v);
#elif defined(__GNUC__) || defined(__clang__)
    return (uint32_t)__builtin_popcount(v);
#else
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return (((v + (v >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24;
#endif
}

/* Products that must not be fused into a following add (nvcc contracts
 * a * b + c into an FMA by default; the CPU twin must round the same way). */
ENTQ_HD static inline float entq_mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}

ENTQ_HD static inline float entq_fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
    return __fmaf_rn(a, b, c);
#else
    return fmaf(a, b, c); /* correctly rounded, like the GPU's FFMA */
#endif
}

/* Read-only loads through the non-coherent cache on a GPU. */
template <class T> ENTQ_HD static inline T entq_ldg(const T *p) {
#if defined(__CUDA_ARCH__)
    return __ldg(p);
#else
    return *p;
#endif
}

/* ---- warp policies ---- */

#if defined(__CUDACC__)
/* One lane per thread: the real warp. Every lane of the warp must call the
 * collectives (the kernels keep whole warps together to the end). */
struct entq_warp_gpu {
    enum { N = 1 };
    __device__ static uint32_t lane(int) { return threadIdx.x & 31u; }
    __device__ static uint32_t ballot(const uint32_t *pred) { return __ballot_sync(0xffffffffu, pred[0] != 0); }
    __device__ static void sync() { __syncwarp(); }
    /* Butterfly sum: every lane ends with the total. */
    __device__ static float sum(float *v) {
        float s = v[0];
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        return s;
    }
    __device__ static bool all(const uint32_t *pred) { return __all_sync(0xffffffffu, pred[0] != 0); }
};
#endif

/* 32 lanes run by one CPU thread, the collectives emulated in the warp's
 * exact order (the butterfly adds lane j and lane j^o as the shuffle does). */
struct entq_warp_cpu {
    enum { N = 32 };
    ENTQ_HD static uint32_t lane(int j) { return (uint32_t)j; }
    ENTQ_HD static uint32_t ballot(const uint32_t *pred) {
        uint32_t m = 0;
        for (int j = 0; j < 32; j++) m |= (uint32_t)(pred[j] != 0) << j;
        return m;
    }
    ENTQ_HD static void sync() {}
    ENTQ_HD static float sum(float *v) {
        float t[32];
        for (int o = 16; o > 0; o >>= 1) {
            for (int j = 0; j < 32; j++) t[j] = v[j] + v[j ^ o];
            for (int j = 0; j < 32; j++) v[j] = t[j];
        }
        return v[0];
    }
    ENTQ_HD static bool all(const uint32_t *pred) {
        for (int j = 0; j < 32; j++)
            if (!pred[j]) return false;
        return true;
    }
};

/* ---- one segment's decoder ---- */

template <class W> struct entq_lane_dec {
    uint32_t x[W::N];        /* lane states */
    uint32_t below[W::N];    /* lanes_below(lane): bits of the lower lanes */
    uint32_t pend[ENTQ_RING_PREFETCH][W::N]; /* the next chunks' word pairs, as loaded */
    uint32_t ptr;            /* words claimed (uniform across the warp) */
    uint32_t staged;         /* words stored in the ring */
    uint32_t next_pair;      /* first pair of the chunk to load next */
    uint32_t npairs;         /* the segment's words / 2 (segments end 4-aligned) */
    const uint32_t *pairs;   /* the words, little-endian, as u32 pairs */
    uint16_t *ring;          /* ENTQ_RING_ALLOC_WORDS words of this warp */

    /* Pair q of the segment as loaded: the last pair past the end, nothing
     * (0) when the segment has no words. The value is not looked at here, so
     * a GPU does not wait for the load (it issues in order). */
    ENTQ_HD uint32_t load_pair(uint32_t q) const {
        uint32_t v = 0;
        if (npairs) v = entq_ldg(pairs + (q < npairs ? q : npairs - 1));
        return v;
    }

    /* Pair q as the reference reads words: past the end both halves are the
     * last word (words[min(i, last)]); applied when the pair is stored. */
    ENTQ_HD uint32_t clamp_pair(uint32_t v, uint32_t q) const { return q < npairs ? v : (v >> 16) * 0x10001u; }

    /* seg points at the segment's 4-aligned first byte (its 32 states). */
    ENTQ_HD void init(const uint8_t *seg, uint32_t seg_bytes, uint16_t *ring_) {
        const uint32_t *states = (const uint32_t *)seg;
        pairs = states + ENTQ_LANES;
        npairs = (seg_bytes - ENTQ_SEGMENT_STATE_BYTES) / 4;
        ring = ring_;
        W::sync(); /* the warp's reads of a previous segment's ring are done */
        for (int j = 0; j < W::N; j++) {
            uint32_t l = W::lane(j);
            x[j] = entq_ldg(states + l);
            below[j] = (1u << l) - 1u;
            for (uint32_t c = 0; c < ENTQ_RING_PREFETCH; c++) pend[c][j] = load_pair(32 * c + l);
        }
        next_pair = 32 * ENTQ_RING_PREFETCH;
        ptr = staged = 0;
    }

    /* Stores the oldest loaded chunk in the ring and loads the one after. */
    ENTQ_HD void refill() {
        uint32_t *ring32 = (uint32_t *)ring;
        for (int j = 0; j < W::N; j++) {
            uint32_t l = W::lane(j);
            const uint32_t at = ((staged >> 1) + l) & (ENTQ_RING_WORDS / 2 - 1);
            const uint32_t v = clamp_pair(pend[0][j], (staged >> 1) + l);
            ring32[at] = v;
            ring32[at + ENTQ_RING_WORDS / 2] = v; /* the mirror */
            for (uint32_t c = 0; c + 1 < ENTQ_RING_PREFETCH; c++) pend[c][j] = pend[c + 1][j];
            pend[ENTQ_RING_PREFETCH - 1][j] = load_pair(next_pair + l);
        }
        next_pair += 32;
        staged += ENTQ_RING_CHUNK;
        W::sync(); /* the stores before any lane reads them */
    }

    /* At least `need` (<= 32 * ENTQ_LANE_UNROLL) unclaimed words staged. */
    ENTQ_HD void ensure(uint32_t need) {
        while (staged - ptr < need) refill();
    }

    /* One step: lanes below `active` decode one symbol each (its slot and
     * codebook value bits come back) and renormalise in ascending lane order.
     * Needs 32 staged words. Branch-free per lane: the word is always read. */
    ENTQ_HD void step(const entq_lane_table &tab, uint32_t b, uint32_t active, uint32_t *slot, uint32_t *value) {
        uint32_t y[W::N], need[W::N];
        const uint32_t mask = (1u << b) - 1u;
        for (int j = 0; j < W::N; j++) {
            slot[j] = x[j] & mask;
            y[j] = tab.advance(slot[j], x[j], b, &value[j]);
            need[j] = (W::lane(j) < active) & (y[j] < ENTQ_RANS_L);
        }
        uint32_t ballot = W::ballot(need);
        const uint16_t *words = ring + (ptr & (ENTQ_RING_WORDS - 1)); /* uniform; [0, 32) stays in the mirror */
        for (int j = 0; j < W::N; j++) {
            uint32_t w = words[entq_popc(ballot & below[j])];
            uint32_t nx = need[j] ? (y[j] << 16) | w : y[j];
            x[j] = W::lane(j) < active ? nx : x[j];
        }
        ptr += entq_popc(ballot);
    }

    /* The reference's end check: every lane back at L, every word claimed
     * (one trailing zero word is the 4-byte padding). Uniform result. */
    ENTQ_HD int finish() const {
        uint32_t ok[W::N];
        for (int j = 0; j < W::N; j++) ok[j] = x[j] == ENTQ_RANS_L;
        if (!W::all(ok)) return ENTQ_ERR_PAYLOAD;
        const uint32_t nwords = 2 * npairs;
        if (ptr == nwords) return ENTQ_OK;
        if (ptr + 1 == nwords && (entq_ldg(pairs + npairs - 1) >> 16) == 0) return ENTQ_OK;
        return ENTQ_ERR_PAYLOAD;
    }
};

/* ---- the walk over a segment's rows ----
 *
 * Symbol i of the segment is element (i / K, i % K) of its rows. Steps that
 * lie wholly inside one row (the bulk when K >= 32) take the fast path: lane
 * l's column is kbase + l, no row test per symbol, ENTQ_LANE_UNROLL steps at
 * a time. A step that crosses row ends (once per row when K % 32 != 0,
 * several rows when K < 32, and the segment's partial last step) takes the
 * general path. The sink decides what a symbol becomes:
 *   sink.prefetch(u, j, k0)        fast path, before the group's decode: lane j
 *                                  will deliver column k0 + 32 u at unrolled step u
 *   sink.fast(u, j, k, slot, value)   ... and here it is (after the whole group)
 *   sink.take(j, k, slot, value, active)  hold lane j's symbol (boundary step)
 *   sink.keep(j, cond)             add the held symbol to the current row if cond
 *   sink.end_row()                 the current row is complete; move to the next
 * Prefetching operands at the start of a group and using the symbols at its
 * end keeps every load's latency off the decode chain: a GPU issues in order,
 * so an FMA waiting for its operand would stall the next step's decode.
 * Returns the decoder's end check (ENTQ_OK or ENTQ_ERR_PAYLOAD). */
template <class W, class Sink>
ENTQ_HD int entq_lane_walk(entq_lane_dec<W> &d, const entq_lane_table &tab, uint32_t b, uint32_t K, uint32_t rows, Sink &sink) {
    const uint32_t count = rows * K; /* callers check rows * K < 2^32 - 32 */
    const uint32_t steps = (count + 31) / 32;
    uint32_t slot[ENTQ_LANE_UNROLL][W::N], value[ENTQ_LANE_UNROLL][W::N];
    uint32_t row = 0, row_start = 0, row_end = K, t = 0;
    while (t < steps) {
        const uint32_t t_end = row_end / 32; /* steps before it end inside the row */
        uint32_t kbase = 32 * t - row_start;
        for (; t + ENTQ_LANE_UNROLL <= t_end; t += ENTQ_LANE_UNROLL, kbase += 32 * ENTQ_LANE_UNROLL) {
            d.ensure(32 * ENTQ_LANE_UNROLL);
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
            for (uint32_t u = 0; u < ENTQ_LANE_UNROLL; u++)
                for (int j = 0; j < W::N; j++) sink.prefetch(u, j, kbase + W::lane(j));
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
            for (uint32_t u = 0; u < ENTQ_LANE_UNROLL; u++) d.step(tab, b, 32, slot[u], value[u]);
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
            for (uint32_t u = 0; u < ENTQ_LANE_UNROLL; u++)
                for (int j = 0; j < W::N; j++) sink.fast(u, j, kbase + 32 * u + W::lane(j), slot[u][j], value[u][j]);
        }
        for (; t < t_end; t++, kbase += 32) {
            d.ensure(32);
            for (int j = 0; j < W::N; j++) sink.prefetch(0, j, kbase + W::lane(j));
            d.step(tab, b, 32, slot[0], value[0]);
            for (int j = 0; j < W::N; j++) sink.fast(0, j, kbase + W::lane(j), slot[0][j], value[0][j]);
        }
        if (32 * t == row_end) { /* the row ended on a step boundary (t == steps: the segment did) */
            sink.end_row();
            row++;
            row_start = row_end;
            row_end += K;
            continue;
        }
        /* a step holding one or more row ends (or the segment's end) */
        const uint32_t i0 = 32 * t, left = count - i0;
        const uint32_t active = left < 32 ? left : 32, step_end = i0 + active;
        d.ensure(32);
        d.step(tab, b, active, slot[0], value[0]);
        for (int j = 0; j < W::N; j++) {
            uint32_t l = W::lane(j), k = 0;
            if (l < active) {
                k = i0 + l - row_start;
                while (k >= K) k -= K;
            }
            sink.take(j, k, slot[0][j], value[0][j], l < active);
        }
        while (row < rows && row_end <= step_end) {
            for (int j = 0; j < W::N; j++) sink.keep(j, i0 + W::lane(j) < row_end && i0 + W::lane(j) >= row_start);
            sink.end_row();
            row++;
            row_start = row_end;
            row_end += K;
        }
        for (int j = 0; j < W::N; j++) sink.keep(j, i0 + W::lane(j) >= row_start && W::lane(j) < active);
        t++;
    }
    return d.finish();
}

#endif /* ENTQ_LANE_H */
