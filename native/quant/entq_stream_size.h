/* entq_stream_size.h - the coded size of a tensor from its code counts alone.
 *
 * Mirrors entq_plan (same segmenting, same prob_bits choice, same header
 * bytes through entq_head_bytes) without needing the codes, so the target-
 * rate search can price a solution it has only counted, or sampled:
 *
 *   bytes = head (header, scales, table, index) + n_seg * 128 (lane states)
 *         + coded bits / 8 - what the final states absorb
 *
 * Every lane starts at state L = 2^16 and ends anywhere in [2^16, 2^32),
 * log-uniformly (rANS states follow ~1/x), so its final state carries about
 * 8 bits of the code: 32 bytes per segment that need no words. The real
 * encoder adds at most 2 bytes of padding per segment and rANS's own (tiny)
 * excess over the ideal code length; the tests compare both.
 */
#ifndef ENTQ_STREAM_SIZE_H
#define ENTQ_STREAM_SIZE_H

#include "../stream/entq_encode.h"

/* Estimated stream bytes for counts over a K x N tensor; 0 if counts are empty. */
static inline double entq_stream_bytes_estimate(const uint64_t *counts, uint32_t N, uint32_t K, uint32_t code_kind,
                                               uint32_t segment_symbols) {
    entq_plan_t pl;
    memset(&pl, 0, sizeof(pl));
    pl.p.code_kind = code_kind;
    pl.N = N;
    pl.K = K;
    uint64_t target = segment_symbols ? segment_symbols : ENTQ_DEFAULT_SEGMENT_SYMBOLS;
    uint64_t rows = target / K;
    pl.rows_per_seg = rows < 1 ? 1 : rows > N ? N : (uint32_t)rows;
    pl.n_seg = (uint32_t)(((uint64_t)N + pl.rows_per_seg - 1) / pl.rows_per_seg);
    for (int s = 0; s < 256; s++)
        if (counts[s]) pl.symbols[pl.n_sym++] = (uint8_t)s;
    if (!pl.n_sym) return 0;
    double best = INFINITY;
    for (uint32_t b = ENTQ_MIN_PROB_BITS; b <= ENTQ_AUTO_MAX_PROB_BITS; b++) { /* the encoder's automatic choice */
        uint32_t f[256];
        if (!entq_normalize_freqs(counts, b, f)) continue;
        double bits = entq_coded_bits(counts, f, b) + 8.0 * (double)entq_table_bytes(pl.n_sym, pl.symbols, f);
        if (bits < best) {
            best = bits;
            memcpy(pl.freq, f, sizeof(f));
        }
    }
    double payload = (best - 8.0 * (double)entq_table_bytes(pl.n_sym, pl.symbols, pl.freq)) / 8.0;
    double absorbed = (double)ENTQ_LANES; /* bytes per segment: 8 bits per lane */
    if (payload / pl.n_seg < absorbed) absorbed = payload / pl.n_seg;
    return (double)entq_head_bytes(&pl) + (double)pl.n_seg * (ENTQ_SEGMENT_STATE_BYTES - absorbed) + payload;
}

#endif /* ENTQ_STREAM_SIZE_H */
