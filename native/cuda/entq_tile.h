/* entq_tile.h - the CUDA in-memory layout of a coded weight ("tiles of lane
 * streams") and its per-lane decoding schedule, written once for the kernels
 * (entq_tile_cuda.cu) and for the CPU twin that tests them without a GPU.
 *
 * The file's segments share one word stream between 32 lanes, so a warp must
 * ballot, count and stage words in shared memory at every step (entq_lane.h:
 * ~25 SASS instructions per weight, native/cuda/NOTES.md). The CUDA buffer
 * instead holds the same codes re-encoded (entq_tile_repack.h) so that every
 * lane owns its own rANS stream:
 *
 *   tile t = rows [t R, t R + R) of the weight; lane l of the warp that runs
 *   it decodes the symbols (r, k) with k = l (mod 32), row by row, from its
 *   own state and its own run of u16 words. Nothing is shared between lanes
 *   while decoding: no ballot, no shuffle, no ring; the lanes of a warp read
 *   neighbouring x[k] (coalesced) and one table in shared memory.
 *
 * One step of a lane (32-bit state in [L, 2^32), L = 2^16, 16-bit words, as
 * the file's coder, entq_rans.h):
 *   e = table[x & (M-1)];  y = e.freq * (x >> b) + e.bias;
 *   if (y < L) { x = y << 16 | w; w = run[++p]; } else x = y;
 * w is the lane's next word, loaded one refill ahead, so the decode chain
 * never waits for global memory except when a lane refills twice in a row.
 * The table entry is 16 bytes (one LDS.128): freq, bias, the codebook value as
 * f32 bits, and sym | f16(value) << 16, so the step needs no field masks.
 *
 * Layout of the blob (little-endian, offsets in the head, sections 16-aligned):
 *   head     entq_tile_head
 *   table    2^prob_bits entq_tile_slot (prob_bits <= ENTQ_TILE_MAX_PROB_BITS)
 *   scales   N f16 row scales (the file's)
 *   lanes    n_tiles * 32 entq_tile_lane {state, first word}
 *   words    n_words u16, each lane's run contiguous, then 2 zero words (a
 *            lane loads its next word ahead: at most one past the last run)
 */
#ifndef ENTQ_TILE_H
#define ENTQ_TILE_H

#include "entq_lane.h"

#define ENTQ_TILE_MAGIC 0x47515445u       /* "ETQG" as a little-endian u32 */
#define ENTQ_TILE_MAX_PROB_BITS 11u       /* table of 32 KB: several blocks per SM */
#define ENTQ_TILE_LANE_SYMBOLS 512u       /* rows per tile: each lane decodes at least this many symbols */
#define ENTQ_TILE_UNROLL 8u               /* steps per iteration of the bulk loop */
#define ENTQ_TILE_PAD_WORDS 2u

typedef struct alignas(16) entq_tile_slot {
    uint32_t freq;      /* of the slot's symbol, in [1, 2^prob_bits] */
    uint32_t bias;      /* slot - cum[sym] */
    uint32_t value;     /* f32 bits of codebook[sym] (unscaled) */
    uint32_t sym_half;  /* sym | f16 bits of codebook[sym] << 16 */
} entq_tile_slot;

typedef struct entq_tile_lane {
    uint32_t state; /* the lane's initial rANS state */
    uint32_t start; /* index of its first word in the words section */
} entq_tile_lane;

typedef struct entq_tile_head {
    uint32_t magic, K, N, rows_per_tile, n_tiles, prob_bits, n_words, scale_base_bits;
    uint64_t table_off, scales_off, lanes_off, words_off, size;
} entq_tile_head;

/* The blob as the kernels see it (pointers into one allocation). */
typedef struct entq_tile_tensor {
    const entq_tile_slot *table;
    const uint16_t *scales;
    const entq_tile_lane *lanes;
    const uint16_t *words;
    uint32_t K, N, rows_per_tile, n_tiles, prob_bits;
    float scale_base;
} entq_tile_tensor;

/* Points t at a blob whose head h is known on the host; base is where the
 * blob lies (device memory for the kernels, host memory for the twin). */
static inline void entq_tile_describe(const entq_tile_head *h, const uint8_t *base, entq_tile_tensor *t) {
    t->table = (const entq_tile_slot *)(base + h->table_off);
    t->scales = (const uint16_t *)(base + h->scales_off);
    t->lanes = (const entq_tile_lane *)(base + h->lanes_off);
    t->words = (const uint16_t *)(base + h->words_off);
    t->K = h->K;
    t->N = h->N;
    t->rows_per_tile = h->rows_per_tile;
    t->n_tiles = h->n_tiles;
    t->prob_bits = h->prob_bits;
    t->scale_base = entq_bits_f32(h->scale_base_bits);
}

/* Expert e of a layout repacked from a stack of E experts: its rows are
 * whole tiles (entq_tile_plan_for), so it is the same layout seen from its
 * first tile, sharing table and words. */
static inline entq_tile_tensor entq_tile_expert(const entq_tile_tensor *t, uint32_t E, uint32_t e) {
    entq_tile_tensor x = *t;
    x.N = t->N / E;
    x.n_tiles = x.N / t->rows_per_tile;
    x.scales = t->scales + (uint64_t)e * x.N;
    x.lanes = t->lanes + (uint64_t)e * x.n_tiles * 32u;
    return x;
}

/* ---- one warp's lanes on one tile ---- */

template <class W> struct entq_tile_dec {
    uint32_t x[W::N], w[W::N], p[W::N];
    const uint16_t *run[W::N]; /* the lane's words; w = run[p] */

    ENTQ_HD void init(const entq_tile_tensor &t, uint32_t tile) {
        for (int j = 0; j < W::N; j++) {
            const entq_tile_lane *ln = t.lanes + (uint64_t)tile * 32u + W::lane(j);
            x[j] = entq_ldg(&ln->state);
            run[j] = t.words + entq_ldg(&ln->start);
            p[j] = 0;
            w[j] = entq_ldg(run[j]);
        }
    }

    /* One symbol on lane j: its table entry comes back. The refill is
     * predicated, not branched: the lanes of a warp refill at different steps.
     * y < L here, so y << 16 | w is y * 2^16 + w (one IMAD); a u32 index on a
     * fixed base keeps the address one IMAD.WIDE. */
    ENTQ_HD entq_tile_slot step(const entq_tile_slot *tab, uint32_t b, uint32_t mask, int j) {
        const entq_tile_slot e = tab[x[j] & mask];
        const uint32_t y = e.freq * (x[j] >> b) + e.bias;
        x[j] = y;
        if (y < ENTQ_RANS_L) {
            x[j] = y * 65536u + w[j];
            w[j] = entq_ldg(run[j] + ++p[j]);
        }
        return e;
    }
};

/* The walk over one tile's rows. The sink decides what a symbol becomes:
 *   sink.symbol(j, k, e)   lane j decoded column k of the current row
 *   sink.end_row(r)        row r is complete (every lane calls it together)
 * The bulk of each row runs ENTQ_TILE_UNROLL steps per iteration with no
 * column test; the row's last K mod (32 ENTQ_TILE_UNROLL) columns step one
 * at a time, lanes past the row's end idle (their streams hold no symbol
 * there). Returns the lanes' end check: every state back at L (the encoder's
 * start), which the twin's tests assert and the kernels do not need. */
template <class W, class Sink>
ENTQ_HD bool entq_tile_walk(const entq_tile_tensor &t, const entq_tile_slot *tab, uint32_t tile, Sink &sink) {
    entq_tile_dec<W> d;
    d.init(t, tile);
    const uint32_t b = t.prob_bits, mask = (1u << b) - 1u, K = t.K;
    const uint32_t r0 = tile * t.rows_per_tile, left = t.N - r0;
    const uint32_t rows = left < t.rows_per_tile ? left : t.rows_per_tile;
    const uint32_t bulk = K - K % (32u * ENTQ_TILE_UNROLL);
    for (uint32_t r = r0; r < r0 + rows; r++) {
        for (uint32_t kb = 0; kb < bulk; kb += 32u * ENTQ_TILE_UNROLL) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
            for (uint32_t u = 0; u < ENTQ_TILE_UNROLL; u++)
                for (int j = 0; j < W::N; j++) {
                    /* 64-bit column: operand addresses become one base per iteration plus immediates */
                    const uint64_t k = (uint64_t)(kb + W::lane(j)) + 32u * u;
                    sink.symbol(j, k, d.step(tab, b, mask, j));
                }
        }
        for (uint32_t kb = bulk; kb < K; kb += 32u)
            for (int j = 0; j < W::N; j++) {
                const uint32_t k = kb + W::lane(j);
                if (k < K) sink.symbol(j, (uint64_t)k, d.step(tab, b, mask, j));
            }
        sink.end_row(r);
    }
    bool ok = true;
    for (int j = 0; j < W::N; j++) ok = ok && d.x[j] == ENTQ_RANS_L;
    return ok;
}

/* ---- sinks ---- */

/* y[c * ldy + r] = scale_base * scale[r] * sum_k value[r][k] x[c * ldx + k], c < B:
 * per lane an FMA chain over its columns, then the warp's butterfly sum. */
template <class W, int B> struct entq_tile_sink_gemv {
    const float *xc[B]; /* column c of x */
    float *y;
    uint32_t ldy;
    const uint16_t *scales;
    float scale_base;
    float acc[B][W::N];

    ENTQ_HD entq_tile_sink_gemv(const float *x, uint32_t ldx, float *y_, uint32_t ldy_, const uint16_t *scales_, float base)
        : y(y_), ldy(ldy_), scales(scales_), scale_base(base) {
        for (int c = 0; c < B; c++) {
            xc[c] = x + (uint64_t)c * ldx;
            for (int j = 0; j < W::N; j++) acc[c][j] = 0.0f;
        }
    }
    ENTQ_HD void symbol(int j, uint64_t k, const entq_tile_slot &e) {
        const float v = entq_bits_f32(e.value);
        for (int c = 0; c < B; c++) acc[c][j] = entq_fma(v, entq_ldg(xc[c] + k), acc[c][j]);
    }
    ENTQ_HD void end_row(uint32_t r) {
        const float s = entq_mul_rn(scale_base, entq_f16_to_f32(entq_ldg(scales + r)));
        for (int c = 0; c < B; c++) {
            const float total = W::sum(acc[c]);
            for (int j = 0; j < W::N; j++) {
                if (W::lane(j) == 0) y[(uint64_t)c * ldy + r] = entq_mul_rn(total, s);
                acc[c][j] = 0.0f;
            }
        }
    }
};

/* out[r * ld + k] = f16(codebook[code]) (unscaled: the row scales follow the product). */
template <class W> struct entq_tile_sink_f16 {
    uint16_t *out;
    uint32_t ld;
    uint32_t row;
    ENTQ_HD void symbol(int, uint64_t k, const entq_tile_slot &e) { out[(uint64_t)row * ld + k] = (uint16_t)(e.sym_half >> 16); }
    ENTQ_HD void end_row(uint32_t) { row++; }
};

/* out[r * K + k] = code. */
template <class W> struct entq_tile_sink_codes {
    uint8_t *out;
    uint32_t K;
    uint32_t row;
    ENTQ_HD void symbol(int, uint64_t k, const entq_tile_slot &e) { out[(uint64_t)row * K + k] = (uint8_t)e.sym_half; }
    ENTQ_HD void end_row(uint32_t) { row++; }
};

/* One row of the tile, dequantised as the reference does (entq_decode_dequantize:
 * value x (scale_base x row scale), f32, round to nearest): GET_ROWS (token
 * embeddings). The tile's other rows are decoded and dropped: a tile is at
 * most ceil(16384 / K) rows. */
template <class W> struct entq_tile_sink_row {
    float *out;
    uint32_t row, want;
    float scale;
    ENTQ_HD entq_tile_sink_row(float *out_, uint32_t r0, uint32_t want_, const uint16_t *scales, float scale_base)
        : out(out_), row(r0), want(want_), scale(entq_mul_rn(scale_base, entq_f16_to_f32(entq_ldg(scales + want_)))) {}
    ENTQ_HD void symbol(int, uint64_t k, const entq_tile_slot &e) {
        if (row == want) out[k] = entq_mul_rn(entq_bits_f32(e.value), scale);
    }
    ENTQ_HD void end_row(uint32_t) { row++; }
};

#endif /* ENTQ_TILE_H */
