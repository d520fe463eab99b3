/* entq_encode.h - writes an ENTQ stream (layout in entq_format.h).
 *
 * Three steps, so a caller can run the segments on several threads:
 *   entq_plan()            counts symbols, picks prob_bits and segmenting
 *   entq_write_head()      sections 1-6 (the index is filled per segment)
 *   entq_encode_segment()  one segment's states and words, any order
 * entq_encode() does all three on one thread.
 */
#ifndef ENTQ_ENCODE_H
#define ENTQ_ENCODE_H

#include "entq_freq.h"
#include "entq_rans.h"

/* Symbols per segment when the caller does not choose: 32 lanes x 2048
 * steps. Each segment costs 132 bytes (states + index entry), ~0.8% of a
 * segment coded at 2 bits/weight; smaller segments give more parallelism. */
#define ENTQ_DEFAULT_SEGMENT_SYMBOLS 65536u

/* The automatic prob_bits choice stops at 12: a 4096-slot table fits the
 * decoders' fast memory (the CPU's 32 KB slot table in L1/L2, 1.2x faster
 * than at 14 bits; the GPU's shared memory) and costs ~0.1% in size over 14
 * bits on weight codes (docs/BENCHMARKS.md). 13 and 14 stay valid when asked for. */
#define ENTQ_AUTO_MAX_PROB_BITS 12u

typedef struct entq_params {
    uint32_t code_kind;          /* enum entq_code_kind */
    const uint16_t *codebook;    /* 256 x f16, only for ENTQ_CODES_CUSTOM */
    float scale_base;            /* > 0, finite */
    const uint16_t *row_scales;  /* N x f16 */
    uint32_t segment_symbols;    /* target symbols per segment; 0 = default */
    uint32_t prob_bits;          /* 0 = choose the smallest stream with prob_bits <= ENTQ_AUTO_MAX_PROB_BITS */
    uint32_t n_expert;           /* 0 = one matrix; else N rows = n_expert experts (<= 65535), segments inside experts */
} entq_params;

typedef struct entq_plan_t {
    entq_params p;
    uint32_t K, N, rows_per_seg, n_seg, prob_bits, n_sym;
    uint8_t symbols[256];
    uint32_t freq[256], cum[256];
    uint64_t counts[256];
    uint64_t head_bytes;     /* sections 1-6 */
} entq_plan_t;

/* Worst-case bytes of one segment holding `count` symbols. */
static inline uint64_t entq_segment_bound(uint64_t count) {
    return ENTQ_SEGMENT_STATE_BYTES + 2 * count + 2;
}

static inline uint64_t entq_head_bytes(const entq_plan_t *pl) {
    uint64_t b = ENTQ_FIXED_HEADER_BYTES + (pl->p.code_kind == ENTQ_CODES_CUSTOM ? 512 : 0) + 2 * (uint64_t)pl->N;
    b += entq_table_bytes(pl->n_sym, pl->symbols, pl->freq);
    b = (b + 3) & ~(uint64_t)3;
    return b + 4 * (uint64_t)pl->n_seg;
}

/* Worst-case size of the whole stream for this plan. */
static inline uint64_t entq_encode_bound(const entq_plan_t *pl) {
    uint64_t seg_syms = (uint64_t)pl->rows_per_seg * pl->K;
    return pl->head_bytes + pl->n_seg * entq_segment_bound(seg_syms);
}

static inline int entq_plan(uint32_t K, uint32_t N, const uint8_t *codes, const entq_params *p, entq_plan_t *pl) {
    memset(pl, 0, sizeof(*pl));
    if (K == 0 || N == 0) return ENTQ_ERR_EMPTY;
    if (!codes || !p || !p->row_scales || p->code_kind >= ENTQ_CODES_COUNT) return ENTQ_ERR_ARG;
    if (p->code_kind == ENTQ_CODES_CUSTOM && !p->codebook) return ENTQ_ERR_ARG;
    if (!entq_isfinite(p->scale_base) || !(p->scale_base > 0.0f)) return ENTQ_ERR_ARG;
    if (p->prob_bits && (p->prob_bits < ENTQ_MIN_PROB_BITS || p->prob_bits > ENTQ_MAX_PROB_BITS)) return ENTQ_ERR_ARG;
    for (uint32_t r = 0; r < N; r++) {
        float s = entq_f16_to_f32(p->row_scales[r]);
        if (!entq_isfinite(s) || s < 0.0f) return ENTQ_ERR_SCALES;
    }
    pl->p = *p;
    pl->K = K;
    pl->N = N;

    if (p->n_expert > 65535 || (p->n_expert && N % p->n_expert)) return ENTQ_ERR_ARG;
    uint64_t target = p->segment_symbols ? p->segment_symbols : ENTQ_DEFAULT_SEGMENT_SYMBOLS;
    uint64_t rows = target / K;
    const uint32_t unit = p->n_expert ? N / p->n_expert : N;  /* a segment never spans two experts */
    pl->rows_per_seg = rows < 1 ? 1 : rows > unit ? unit : (uint32_t)rows;
    if (p->n_expert)
        while (unit % pl->rows_per_seg) pl->rows_per_seg--;  /* the largest divisor of an expert's rows within the target */
    pl->n_seg = (uint32_t)(((uint64_t)N + pl->rows_per_seg - 1) / pl->rows_per_seg);

    const uint64_t n = (uint64_t)K * N;
    for (uint64_t i = 0; i < n; i++) pl->counts[codes[i]]++;
    for (int s = 0; s < 256; s++)
        if (pl->counts[s]) pl->symbols[pl->n_sym++] = (uint8_t)s;
    float vmax = 0.0f;
    for (uint32_t i = 0; i < pl->n_sym; i++) {
        float v = p->code_kind == ENTQ_CODES_E4M3 ? entq_e4m3_to_f32(pl->symbols[i])
                : p->code_kind == ENTQ_CODES_INT8 ? entq_int8_to_f32(pl->symbols[i])
                : entq_f16_to_f32(p->codebook[pl->symbols[i]]);
        if (!entq_isfinite(v)) return ENTQ_ERR_CODEBOOK;
        v = entq_bits_f32(entq_f32_bits(v) & 0x7fffffffu);
        if (v > vmax) vmax = v;
    }
    for (uint32_t r = 0; r < N; r++) { /* what entq_parse refuses: a dequantised value that is not finite */
        float s = p->scale_base * entq_f16_to_f32(p->row_scales[r]);
        if (!entq_isfinite(s) || !entq_isfinite(vmax * s)) return ENTQ_ERR_SCALES;
    }

    /* prob_bits: the smallest table + payload estimate wins */
    uint32_t lo = p->prob_bits ? p->prob_bits : ENTQ_MIN_PROB_BITS;
    uint32_t hi = p->prob_bits ? p->prob_bits : ENTQ_AUTO_MAX_PROB_BITS;
    double best = INFINITY;
    for (uint32_t b = lo; b <= hi; b++) {
        uint32_t f[256];
        if (!entq_normalize_freqs(pl->counts, b, f)) return ENTQ_ERR_ARG;
        double bits = entq_coded_bits(pl->counts, f, b) + 8.0 * (double)entq_table_bytes(pl->n_sym, pl->symbols, f);
        if (bits < best) {
            best = bits;
            pl->prob_bits = b;
            memcpy(pl->freq, f, sizeof(f));
        }
    }
    for (uint32_t s = 0, c = 0; s < 256; s++) {
        pl->cum[s] = c;
        c += pl->freq[s];
    }
    pl->head_bytes = entq_head_bytes(pl);
    if (pl->head_bytes + (uint64_t)pl->n_seg * ENTQ_SEGMENT_STATE_BYTES > UINT32_MAX) return ENTQ_ERR_TOO_LARGE;
    return ENTQ_OK;
}

/* Writes sections 1-6 into out[0, head_bytes); the index entries are zero
 * until entq_set_segment_end() fills them. */
static inline void entq_write_head(const entq_plan_t *pl, uint8_t *out) {
    memset(out, 0, pl->head_bytes);
    memcpy(out, ENTQ_MAGIC, 4);
    entq_wr16(out + 4, ENTQ_VERSION);
    out[6] = (uint8_t)pl->p.code_kind;
    out[7] = (uint8_t)pl->prob_bits;
    entq_wr32(out + 8, pl->K);
    entq_wr32(out + 12, pl->N);
    entq_wr32(out + 16, pl->rows_per_seg);
    entq_wr32(out + 20, entq_f32_bits(pl->p.scale_base));
    entq_wr16(out + 24, (uint16_t)pl->n_sym);
    entq_wr16(out + 26, (uint16_t)pl->p.n_expert);
    /* payload size and checksum are written by entq_finish() */
    uint8_t *o = out + ENTQ_FIXED_HEADER_BYTES;
    if (pl->p.code_kind == ENTQ_CODES_CUSTOM)
        for (int i = 0; i < 256; i++, o += 2) entq_wr16(o, pl->p.codebook[i]);
    for (uint32_t r = 0; r < pl->N; r++, o += 2) entq_wr16(o, pl->p.row_scales[r]);
    if (pl->n_sym <= ENTQ_SYMBOL_LIST_MAX) {
        for (uint32_t i = 0; i < pl->n_sym; i++) *o++ = pl->symbols[i];
    } else {
        for (uint32_t i = 0; i < pl->n_sym; i++) o[pl->symbols[i] / 8] |= (uint8_t)(1u << (pl->symbols[i] % 8));
        o += 32;
    }
    for (uint32_t i = 0; i + 1 < pl->n_sym; i++) {
        uint32_t v = pl->freq[pl->symbols[i]] - 1;
        while (v >= 0x80) { *o++ = (uint8_t)(v | 0x80); v >>= 7; }
        *o++ = (uint8_t)v;
    }
}

/* Encodes `count` symbols (one segment, row-major) into out, which must hold
 * entq_segment_bound(count) bytes. Returns the bytes written (a multiple of 4).
 * The words are produced last-first, so they are written backwards from the
 * end of the bound and moved down behind the states afterwards. */
static inline uint64_t entq_encode_segment(const entq_plan_t *pl, const uint8_t *codes, uint64_t count, uint8_t *out) {
    uint32_t x[ENTQ_LANES];
    const uint32_t b = pl->prob_bits;
    for (int l = 0; l < ENTQ_LANES; l++) x[l] = ENTQ_RANS_L;
    uint16_t *words_end = (uint16_t *)(out + entq_segment_bound(count) - 2); /* 2-aligned: out is 4-aligned */
    uint16_t *w = words_end;
    uint64_t steps = (count + ENTQ_LANES - 1) / ENTQ_LANES;
    for (uint64_t t = steps; t-- > 0;) {
        uint64_t base = t * ENTQ_LANES;
        int lanes = count - base < ENTQ_LANES ? (int)(count - base) : ENTQ_LANES;
        for (int l = lanes - 1; l >= 0; l--) {
            uint8_t s = codes[base + l];
            x[l] = entq_rans_enc_put(x[l], pl->freq[s], pl->cum[s], b, &w);
        }
    }
    for (int l = 0; l < ENTQ_LANES; l++) entq_wr32(out + 4 * l, x[l]);
    uint64_t nwords = (uint64_t)(words_end - w);
    uint8_t *dst = out + ENTQ_SEGMENT_STATE_BYTES;
    /* words are host-endian u16 in scratch; store little-endian */
    for (uint64_t i = 0; i < nwords; i++) {
        uint16_t v = w[i];
        entq_wr16(dst + 2 * i, v);
    }
    uint64_t bytes = ENTQ_SEGMENT_STATE_BYTES + 2 * nwords;
    if (bytes % 4) {
        entq_wr16(out + bytes, 0);
        bytes += 2;
    }
    return bytes;
}

/* Records the end offset (relative to the payload) of segment `seg`. */
static inline void entq_set_segment_end(const entq_plan_t *pl, uint8_t *out, uint32_t seg, uint32_t end) {
    entq_wr32(out + pl->head_bytes - 4 * (uint64_t)pl->n_seg + 4 * (uint64_t)seg, end);
}

/* Completes the stream once every segment is written: payload size, checksum. */
static inline void entq_finish(const entq_plan_t *pl, uint8_t *out, uint32_t payload_bytes) {
    entq_wr32(out + 28, payload_bytes);
    entq_wr32(out + ENTQ_CRC_OFFSET, entq_stream_crc(out, pl->head_bytes + payload_bytes));
}

/* One-thread encoder: out must hold entq_encode_bound(plan) bytes.
 * Returns ENTQ_OK and the stream's exact size in *size. */
static inline int entq_encode(const entq_plan_t *pl, const uint8_t *codes, uint8_t *out, uint64_t *size) {
    entq_write_head(pl, out);
    uint64_t pos = 0;
    for (uint32_t seg = 0; seg < pl->n_seg; seg++) {
        uint64_t r0 = (uint64_t)seg * pl->rows_per_seg;
        uint64_t rows = pl->N - r0 < pl->rows_per_seg ? pl->N - r0 : pl->rows_per_seg;
        pos += entq_encode_segment(pl, codes + r0 * pl->K, rows * pl->K, out + pl->head_bytes + pos);
        if (pos > UINT32_MAX) return ENTQ_ERR_TOO_LARGE;
        entq_set_segment_end(pl, out, seg, (uint32_t)pos);
    }
    entq_finish(pl, out, (uint32_t)pos);
    *size = pl->head_bytes + pos;
    return ENTQ_OK;
}

#endif /* ENTQ_ENCODE_H */
