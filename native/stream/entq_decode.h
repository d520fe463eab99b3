/* entq_decode.h - the reference decoder. Every backend must produce exactly
 * the symbols this one does.
 *
 * Safety: entq_parse() has checked every section and segment offset against
 * the buffer. Inside a segment the decoder clamps every word read to the
 * segment's words (a corrupt stream cannot make it read elsewhere) and
 * reports ENTQ_ERR_PAYLOAD when a segment did not end with every lane back at
 * ENTQ_RANS_L and every word consumed.
 */
#ifndef ENTQ_DECODE_H
#define ENTQ_DECODE_H

#include "entq_rans.h"

/* Slot -> (symbol, freq, bias); sized for the largest prob_bits, built for one stream. */
typedef struct entq_dtable {
    uint32_t prob_bits;
    float value[256];                           /* codebook[symbol], as f32 */
    uint8_t sym[1u << ENTQ_MAX_PROB_BITS];
    entq_dslot slot[1u << ENTQ_MAX_PROB_BITS];
} entq_dtable;

static inline void entq_build_dtable(const entq_info *in, const uint8_t *buf, entq_dtable *t) {
    t->prob_bits = in->prob_bits;
    for (uint32_t s = 0; s < 256; s++) t->value[s] = in->freq[s] ? entq_codebook_value(in, buf, s) : 0.0f;
    for (uint32_t i = 0; i < in->n_sym; i++) {
        uint32_t s = in->symbols[i];
        for (uint32_t k = 0; k < in->freq[s]; k++) {
            uint32_t slot = in->cum[s] + k;
            t->sym[slot] = (uint8_t)s;
            t->slot[slot].freq = (uint16_t)in->freq[s];
            t->slot[slot].bias = (uint16_t)k;
        }
    }
}

/* Where one segment's decoding stands; resumable at any symbol. */
typedef struct entq_decoder {
    uint32_t x[ENTQ_LANES];
    const uint8_t *words;   /* little-endian u16 */
    uint64_t nwords, ptr;   /* ptr may pass nwords only on corrupt input */
    uint64_t i, count;      /* next symbol, symbols in the segment */
} entq_decoder;

static const uint8_t entq_zero_word[2] = {0, 0};

static inline void entq_dec_init(const entq_info *in, const uint8_t *buf, uint32_t seg, entq_decoder *d) {
    uint64_t start, end;
    entq_segment_range(in, buf, seg, &start, &end);
    for (int l = 0; l < ENTQ_LANES; l++) d->x[l] = entq_rd32(buf + start + 4 * l);
    d->nwords = (end - start - ENTQ_SEGMENT_STATE_BYTES) / 2;
    d->words = d->nwords ? buf + start + ENTQ_SEGMENT_STATE_BYTES : entq_zero_word;
    d->ptr = 0;
    d->i = 0;
    d->count = (uint64_t)entq_segment_rows(in, seg) * in->K;
}

/* One lane's step: decode a symbol, renormalise from the shared word stream.
 * Branch-free: the word is always loaded (clamped to the segment) and kept
 * only when the state fell below L, since the branch would be unpredictable. */
#define ENTQ_DEC_LANE(t, x, ptr, words, last, out)                          \
    do {                                                                   \
        uint32_t x_ = (x); /* read once: the byte store below may alias */ \
        uint32_t slot_ = x_ & mask;                                        \
        (out) = (t)->sym[slot_];                                           \
        uint32_t y_ = entq_rans_dec_advance(x_, (t)->slot[slot_], b);      \
        uint32_t w_ = entq_rd16((words) + 2 * ((ptr) < (last) ? (ptr) : (last))); \
        uint32_t need_ = y_ < ENTQ_RANS_L;                                 \
        (x) = (y_ << (need_ << 4)) | (w_ & (0u - need_)); /* no branch */  \
        (ptr) += need_;                                                    \
    } while (0)

#if defined(__GNUC__) || defined(__clang__)
#define ENTQ_NOINLINE __attribute__((noinline))
#else
#define ENTQ_NOINLINE
#endif

/* `steps` whole steps of all 32 lanes. Kept out of line: inlined into a
 * large caller, register pressure spills the lane loop (measured 270 vs 375
 * M symbols/s for the same code). */
static ENTQ_NOINLINE void entq_dec_steps(const entq_dtable *t, uint32_t *x, const uint8_t *words, uint64_t last,
                                         uint64_t *ptr_io, uint8_t *out, uint64_t steps) {
    const uint32_t b = t->prob_bits, mask = (1u << b) - 1;
    uint64_t ptr = *ptr_io;
    for (uint64_t s = 0; s < steps; s++, out += ENTQ_LANES)
        for (int l = 0; l < ENTQ_LANES; l++) ENTQ_DEC_LANE(t, x[l], ptr, words, last, out[l]);
    *ptr_io = ptr;
}

/* Decodes the next n symbols of the segment into out (n <= count - i).
 * State lives in locals: out is a byte pointer and may alias anything, so
 * working on *d directly would reload it after every store. */
static inline void entq_dec_run(const entq_dtable *t, entq_decoder *d, uint64_t n, uint8_t *out) {
    const uint32_t b = t->prob_bits, mask = (1u << b) - 1;
    const uint8_t *words = d->words;
    const uint64_t last = d->nwords ? d->nwords - 1 : 0;
    uint64_t ptr = d->ptr, i = d->i, stop = i + n;
    uint32_t x[ENTQ_LANES];
    memcpy(x, d->x, sizeof(x));
    for (; i < stop && (i % ENTQ_LANES); i++, out++) ENTQ_DEC_LANE(t, x[i % ENTQ_LANES], ptr, words, last, *out);
    uint64_t steps = (stop - i) / ENTQ_LANES;
    entq_dec_steps(t, x, words, last, &ptr, out, steps);
    i += steps * ENTQ_LANES;
    out += steps * ENTQ_LANES;
    for (; i < stop; i++, out++) ENTQ_DEC_LANE(t, x[i % ENTQ_LANES], ptr, words, last, *out);
    memcpy(d->x, x, sizeof(x));
    d->ptr = ptr;
    d->i = i;
}

/* After the whole segment: every lane at L, every word used (one trailing
 * zero word is the 4-byte padding). */
static inline int entq_dec_finish(const entq_decoder *d) {
    if (d->i != d->count) return ENTQ_ERR_ARG;
    for (int l = 0; l < ENTQ_LANES; l++)
        if (d->x[l] != ENTQ_RANS_L) return ENTQ_ERR_PAYLOAD;
    if (d->ptr == d->nwords) return ENTQ_OK;
    if (d->ptr + 1 == d->nwords && entq_rd16(d->words + 2 * d->ptr) == 0) return ENTQ_OK;
    return ENTQ_ERR_PAYLOAD;
}

/* Decodes segments [seg0, seg1) into codes (rows of those segments, row-major). */
static inline int entq_decode_codes(const entq_info *in, const uint8_t *buf, const entq_dtable *t,
                                    uint32_t seg0, uint32_t seg1, uint8_t *codes) {
    if (seg0 > seg1 || seg1 > in->n_seg) return ENTQ_ERR_ARG;
    for (uint32_t seg = seg0; seg < seg1; seg++) {
        entq_decoder d;
        entq_dec_init(in, buf, seg, &d);
        entq_dec_run(t, &d, d.count, codes);
        codes += d.count;
        int st = entq_dec_finish(&d);
        if (st != ENTQ_OK) return st;
    }
    return ENTQ_OK;
}

/* y[r - row0] = sum_k value[r][k] * x[k] for the rows of segments [seg0, seg1),
 * row0 being the first row of seg0. row_buf holds K codes. Dequantising is
 * codebook lookup, the row scale applied once to the row's sum. */
static inline int entq_decode_dot(const entq_info *in, const uint8_t *buf, const entq_dtable *t,
                                  uint32_t seg0, uint32_t seg1, const float *x, float *y, uint8_t *row_buf) {
    if (seg0 > seg1 || seg1 > in->n_seg) return ENTQ_ERR_ARG;
    for (uint32_t seg = seg0; seg < seg1; seg++) {
        entq_decoder d;
        entq_dec_init(in, buf, seg, &d);
        uint32_t r0 = seg * in->rows_per_seg, rows = entq_segment_rows(in, seg);
        for (uint32_t r = 0; r < rows; r++) {
            entq_dec_run(t, &d, in->K, row_buf);
            float acc = 0.0f;
            for (uint32_t k = 0; k < in->K; k++) acc += t->value[row_buf[k]] * x[k];
            *y++ = acc * entq_row_scale(in, buf, r0 + r);
        }
        int st = entq_dec_finish(&d);
        if (st != ENTQ_OK) return st;
    }
    return ENTQ_OK;
}

/* Writes the exact dequantised values of segments [seg0, seg1) to out:
 * value = codebook[code] * (scale_base * row_scale), in f32. This defines the
 * "dequantised reference" that kernels are compared against. */
static inline int entq_decode_dequantize(const entq_info *in, const uint8_t *buf, const entq_dtable *t,
                                         uint32_t seg0, uint32_t seg1, float *out, uint8_t *row_buf) {
    if (seg0 > seg1 || seg1 > in->n_seg) return ENTQ_ERR_ARG;
    for (uint32_t seg = seg0; seg < seg1; seg++) {
        entq_decoder d;
        entq_dec_init(in, buf, seg, &d);
        uint32_t r0 = seg * in->rows_per_seg, rows = entq_segment_rows(in, seg);
        for (uint32_t r = 0; r < rows; r++, out += in->K) {
            entq_dec_run(t, &d, in->K, row_buf);
            float s = entq_row_scale(in, buf, r0 + r);
            for (uint32_t k = 0; k < in->K; k++) out[k] = t->value[row_buf[k]] * s;
        }
        int st = entq_dec_finish(&d);
        if (st != ENTQ_OK) return st;
    }
    return ENTQ_OK;
}

/* The deep half of validation: the checksum, then every segment decoded and
 * checked (which also catches an encoder whose output does not decode). */
static inline int entq_verify_payload(const entq_info *in, const uint8_t *buf, const entq_dtable *t, uint8_t *row_buf) {
    int crc = entq_check_crc(buf, in->size);
    if (crc != ENTQ_OK) return crc;
    for (uint32_t seg = 0; seg < in->n_seg; seg++) {
        entq_decoder d;
        entq_dec_init(in, buf, seg, &d);
        for (uint32_t r = 0; r < entq_segment_rows(in, seg); r++) entq_dec_run(t, &d, in->K, row_buf);
        int st = entq_dec_finish(&d);
        if (st != ENTQ_OK) return st;
    }
    return ENTQ_OK;
}

#endif /* ENTQ_DECODE_H */
