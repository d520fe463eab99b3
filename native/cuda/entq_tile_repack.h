/* entq_tile_repack.h - host side of the CUDA layout (entq_tile.h): the file's
 * ENTQ stream decoded with the reference decoder and re-encoded as tiles of
 * lane streams, with the exact same codes.
 *
 * The table: the file's frequencies when its prob_bits <= ENTQ_TILE_MAX_PROB_BITS,
 * else renormalised to that precision (entq_normalize_freqs, with the file's
 * frequencies as the counts), so the slot table stays 32 KB.
 *
 * Size bound, from the header alone (entq_tile_bound). For a lane whose state
 * is x >= L = 2^16 before a step, the step lowers log2 x by the symbol's
 * information I = log2(M / f) within (-log2(1 + M/L), -log2(1 - M/L)) bits
 * (x' = f floor(x / M) + bias, bias < f), and every word read adds 16 bits.
 * A file lane starts below 2^32 and ends at L, so the symbols' information
 * under the file's table is below 16 (W_file + 32 n_seg) + n log2(1 + M/L);
 * a tile lane starts at or above L and ends at L, so its words are at most
 * (information under our table + n (-log2(1 - M'/L))) / 16; our table costs
 * at most log2(1/c) bits more per symbol, c the smallest ratio of our
 * probability to the file's over the present symbols. Hence
 *   words <= W_file + 32 n_seg + n (log2(1 + M/L) - log2(1 - M'/L) + log2(1/c)) / 16,
 * rounded up with margin; the repacker still checks it (a corrupt payload is
 * refused before encoding, so the check only guards this proof).
 */
#ifndef ENTQ_TILE_REPACK_H
#define ENTQ_TILE_REPACK_H

#include <math.h>
#include <string.h>

#include <memory>
#include <string>
#include <vector>

#include "../stream/entq_decode.h"
#include "../stream/entq_freq.h"
#include "entq_tile.h"

/* The layout's host storage unit: 16-byte aligned, as the table entries are. */
typedef struct alignas(16) entq_tile_chunk {
    uint64_t v[2];
} entq_tile_chunk;

/* What the header decides: table, tile shape, section offsets (words last). */
struct entq_tile_plan {
    entq_tile_head head;          /* n_words and size: the bound until repacked */
    uint32_t freq[256], cum[256]; /* the table's, by symbol */
    uint64_t bound_words;
};

static inline uint64_t entq_tile_align16(uint64_t v) { return (v + 15u) & ~(uint64_t)15u; }

/* Fills the plan from a parsed stream (entq_parse: sections checked). */
static inline int entq_tile_plan_for(const entq_info *in, entq_tile_plan *pl) {
    const uint32_t b = in->prob_bits < ENTQ_TILE_MAX_PROB_BITS ? in->prob_bits : ENTQ_TILE_MAX_PROB_BITS;
    if (b < in->prob_bits) {
        uint64_t counts[256];
        for (int s = 0; s < 256; s++) counts[s] = in->freq[s];
        if (entq_normalize_freqs(counts, b, pl->freq) == 0) return ENTQ_ERR_TABLE;
    } else {
        memcpy(pl->freq, in->freq, sizeof(pl->freq));
    }
    uint32_t c = 0;
    double worst = 1.0; /* c: min over present symbols of our probability / the file's */
    for (uint32_t i = 0; i < in->n_sym; i++) {
        const uint32_t s = in->symbols[i];
        pl->cum[s] = c;
        c += pl->freq[s];
        const double ratio = ((double)pl->freq[s] / (double)(1u << b)) / ((double)in->freq[s] / (double)(1u << in->prob_bits));
        if (ratio < worst) worst = ratio;
    }
    if (c != (1u << b)) return ENTQ_ERR_TABLE;
    const uint64_t n = (uint64_t)in->K * in->N;
    uint32_t R = (uint32_t)((32ull * ENTQ_TILE_LANE_SYMBOLS + in->K - 1) / in->K);
    if (R > in->N) R = in->N;
    if (R < 1) R = 1;
    if (in->n_expert) {
        /* a stack of experts: tiles never span two, so each expert is a run of whole tiles (entq_tile_expert) */
        const uint32_t rows = in->N / in->n_expert;
        if (R > rows) R = rows;
        while (rows % R) R--;
    }
    entq_tile_head *h = &pl->head;
    h->magic = ENTQ_TILE_MAGIC;
    h->K = in->K;
    h->N = in->N;
    h->rows_per_tile = R;
    h->n_tiles = (in->N + R - 1) / R;
    h->prob_bits = b;
    h->scale_base_bits = entq_f32_bits(in->scale_base);
    const double L = (double)ENTQ_RANS_L;
    const double per_symbol = log2(1.0 + (double)(1u << in->prob_bits) / L) - log2(1.0 - (double)(1u << b) / L) - log2(worst);
    const uint64_t file_words = (in->payload_bytes - (uint64_t)ENTQ_SEGMENT_STATE_BYTES * in->n_seg) / 2;
    const double extra = (double)n * per_symbol / 16.0 * (1.0 + 1e-9) + 2.0;
    pl->bound_words = file_words + 32ull * in->n_seg + (uint64_t)ceil(extra);
    h->table_off = entq_tile_align16(sizeof(entq_tile_head));
    h->scales_off = h->table_off + ((uint64_t)sizeof(entq_tile_slot) << b);
    h->lanes_off = entq_tile_align16(h->scales_off + 2ull * in->N);
    h->words_off = entq_tile_align16(h->lanes_off + (uint64_t)h->n_tiles * 32u * sizeof(entq_tile_lane));
    if (pl->bound_words + ENTQ_TILE_PAD_WORDS >= (1ull << 32)) return ENTQ_ERR_TOO_LARGE;
    h->n_words = (uint32_t)pl->bound_words;
    h->size = entq_tile_align16(h->words_off + 2ull * (pl->bound_words + ENTQ_TILE_PAD_WORDS));
    return ENTQ_OK;
}

/* Bytes the layout of a parsed stream can take: known before decoding. */
static inline uint64_t entq_tile_bound(const entq_info *in) {
    entq_tile_plan pl;
    return entq_tile_plan_for(in, &pl) == ENTQ_OK ? pl.head.size : 0;
}

/* Repacks the stream (size bytes, the tensor `name` of N rows of K; a stack
 * of `experts` experts of N / experts rows each, or one matrix: 0) into out
 * (resized to the layout's exact bytes); head gets its head. On failure:
 * false and one message naming the tensor. */
static inline bool entq_tile_repack(const uint8_t *stream, uint64_t size, uint32_t K, uint32_t N, const char *name,
                                    std::vector<entq_tile_chunk> &out, entq_tile_head *head, std::string &err,
                                    uint32_t experts = 0) {
    auto fail = [&](const std::string &what) {
        err = std::string("tensor '") + name + "': " + what;
        return false;
    };
    entq_info in;
    int st = entq_parse_shape(stream, size, K, N, &in);
    if (st == ENTQ_OK && in.n_expert != experts) st = ENTQ_ERR_SHAPE;
    if (st == ENTQ_OK) st = entq_check_crc(stream, size);
    if (st != ENTQ_OK) return fail(entq_status_str(st));
    if ((uint64_t)K * N > (1ull << 40)) return fail(entq_status_str(ENTQ_ERR_TOO_LARGE));
    auto pl = std::make_unique<entq_tile_plan>();
    st = entq_tile_plan_for(&in, pl.get());
    if (st != ENTQ_OK) return fail(std::string("CUDA layout: ") + entq_status_str(st));

    /* the codes, by the reference decoder, segment by segment (a bad one is named) */
    std::vector<uint8_t> codes((size_t)K * N);
    {
        auto t = std::make_unique<entq_dtable>();
        entq_build_dtable(&in, stream, t.get());
        uint8_t *at = codes.data();
        for (uint32_t seg = 0; seg < in.n_seg; seg++) {
            st = entq_decode_codes(&in, stream, t.get(), seg, seg + 1, at);
            if (st != ENTQ_OK) return fail("segment " + std::to_string(seg) + ": " + entq_status_str(st));
            at += (size_t)entq_segment_rows(&in, seg) * K;
        }
    }

    const entq_tile_head &h0 = pl->head;
    const uint32_t b = h0.prob_bits, R = h0.rows_per_tile;
    std::vector<entq_tile_lane> lanes((size_t)h0.n_tiles * 32u);
    std::vector<uint16_t> words;
    words.reserve((size_t)(pl->bound_words + ENTQ_TILE_PAD_WORDS));
    const uint32_t per_lane_max = R * ((K + 31) / 32); /* symbols of a lane, one word at most each */
    std::vector<uint16_t> tmp(per_lane_max + 1);
    for (uint32_t tile = 0; tile < h0.n_tiles; tile++) {
        const uint32_t r0 = tile * R, rows = N - r0 < R ? N - r0 : R;
        for (uint32_t l = 0; l < 32; l++) {
            /* rANS is LIFO: encode the lane's symbols last to first */
            uint16_t *end = tmp.data() + tmp.size(), *ptr = end;
            uint32_t x = ENTQ_RANS_L;
            for (uint32_t r = r0 + rows; r-- > r0;) {
                if (l >= K) continue;
                const uint8_t *row = codes.data() + (size_t)r * K;
                for (uint32_t k = l + 32u * ((K - 1 - l) / 32u) + 32u; k >= l + 32u;) {
                    k -= 32u;
                    const uint8_t s = row[k];
                    x = entq_rans_enc_put(x, pl->freq[s], pl->cum[s], b, &ptr);
                }
            }
            if (words.size() + (size_t)(end - ptr) > pl->bound_words)
                return fail("CUDA layout larger than its bound (" + std::to_string(pl->bound_words) + " words)");
            lanes[(size_t)tile * 32u + l] = entq_tile_lane{x, (uint32_t)words.size()};
            words.insert(words.end(), ptr, end);
        }
    }
    for (uint32_t i = 0; i < ENTQ_TILE_PAD_WORDS; i++) words.push_back(0);

    entq_tile_head h = h0;
    h.n_words = (uint32_t)(words.size() - ENTQ_TILE_PAD_WORDS);
    h.size = entq_tile_align16(h.words_off + 2ull * words.size());
    out.assign(h.size / sizeof(entq_tile_chunk), entq_tile_chunk{});
    uint8_t *o = (uint8_t *)out.data();
    memcpy(o, &h, sizeof(h));
    entq_tile_slot *slots = (entq_tile_slot *)(o + h.table_off);
    for (uint32_t i = 0; i < in.n_sym; i++) {
        const uint32_t s = in.symbols[i];
        const float v = entq_codebook_value(&in, stream, s);
        for (uint32_t k = 0; k < pl->freq[s]; k++)
            slots[pl->cum[s] + k] = entq_tile_slot{pl->freq[s], k, entq_f32_bits(v), s | (uint32_t)entq_f32_to_f16(v) << 16};
    }
    memcpy(o + h.scales_off, stream + in.scales_off, 2ull * N);
    memcpy(o + h.lanes_off, lanes.data(), lanes.size() * sizeof(entq_tile_lane));
    memcpy(o + h.words_off, words.data(), words.size() * 2);
    *head = h;
    return true;
}

#endif /* ENTQ_TILE_REPACK_H */
