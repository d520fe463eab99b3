/* entq_get_rows.h - single rows of a coded weight as f32, for GET_ROWS on
 * coded token embeddings: a token needs one row of a [K, vocab] matrix, so
 * only the part of the coded data that leads to that row is decoded.
 *
 * Both representations a CPU holds are addressable by row:
 * * the CPU layout (entq_cpu_layout.h): row r lives in one prefix-coded
 *   stream of ~ENTQ_REPACK_STREAM_SYMBOLS symbols; that stream is decoded
 *   (the other 11 streams of its group are not);
 * * the file's rANS stream: row r lives in one segment; the segment is
 *   decoded from its start up to and including row r (its 32 lanes are
 *   interleaved, so nothing before r can be skipped).
 * Either way the cache keeps what was decoded, so rows asked for in order
 * (a prompt's repeated tokens, a thread's share) reuse it.
 *
 * Values are exactly the reference's (entq_decode_dequantize): codebook
 * value x row scale in f32, both products of exact numbers rounded once. */
#ifndef ENTQ_GET_ROWS_H
#define ENTQ_GET_ROWS_H

#include <cstdint>
#include <memory>
#include <vector>

#include "cpu/entq_cpu_layout.h"
#include "stream/entq_decode.h"

/* What a thread decoded last; valid for one weight (reset() when it changes). */
struct entq_row_cache {
    const void * weight = nullptr;  /* the layout or stream the rest belongs to */
    /* layout: the decoded stream (g, s) */
    uint32_t g = UINT32_MAX, s = UINT32_MAX;
    std::vector<int8_t> levels;
    std::vector<uint64_t> ltab;
    /* stream: the decoder of segment seg, which has decoded rows up to (not including) next_row */
    std::unique_ptr<entq_dtable> table;  /* 83 KB: on the heap */
    entq_decoder dec;
    uint32_t seg = UINT32_MAX, next_row = 0;
    std::vector<uint8_t> codes;

    void reset(const void * w) {
        weight = w;
        g = s = seg = UINT32_MAX;
        next_row = 0;
    }
};

/* Row `row` (< L->N) of a CPU layout into out[0..K). */
static inline void entq_layout_get_row(const entq_layout * L, uint32_t row, entq_row_cache & c, float * out) {
    if (c.weight != L) {
        c.reset(L);
        c.ltab.resize((size_t) 1 << ENTQ_LAYOUT_TABLE_BITS);
        entq_layout_build_table(L, c.ltab.data());
    }
    const uint32_t S = ENTQ_LAYOUT_STREAMS, G = entq_layout_group_rows(L);
    const uint32_t g = row / G, s = (row % G) % S, j = (row % G) / S;
    if (g != c.g || s != c.s) {
        c.levels.resize((size_t) L->rows_per_stream * L->K + ENTQ_LAYOUT_OVERRUN);
        entq_layout_decode_stream(L, c.ltab.data(), g, s, c.levels.data());
        c.g = g;
        c.s = s;
    }
    const int8_t * lv = c.levels.data() + (size_t) j * L->K;
    const float scale = entq_layout_row_scale(L, row);
    for (uint32_t k = 0; k < L->K; k++) out[k] = (float) lv[k] * scale;
}

/* Row `row` (< in->N) of a parsed stream into out[0..K). ENTQ_OK, or ENTQ_ERR_PAYLOAD when the segment's end
 * is reached and it does not check out (a damaged stream). */
static inline int entq_stream_get_row(const entq_info * in, const uint8_t * buf, uint32_t row, entq_row_cache & c, float * out) {
    if (c.weight != buf) {
        c.reset(buf);
        if (!c.table) c.table.reset(new entq_dtable);
        entq_build_dtable(in, buf, c.table.get());
    }
    const uint32_t seg = row / in->rows_per_seg;
    const bool have = seg == c.seg && row + 1 == c.next_row;  // the row just decoded: still in codes
    if (!have && (seg != c.seg || row < c.next_row)) {  // start the segment over
        entq_dec_init(in, buf, seg, &c.dec);
        c.seg = seg;
        c.next_row = seg * in->rows_per_seg;
    }
    c.codes.resize(in->K);
    for (; c.next_row <= row; c.next_row++) entq_dec_run(c.table.get(), &c.dec, in->K, c.codes.data());
    const float scale = entq_row_scale(in, buf, row);
    for (uint32_t k = 0; k < in->K; k++) out[k] = c.table->value[c.codes[k]] * scale;
    return c.dec.i == c.dec.count ? entq_dec_finish(&c.dec) : ENTQ_OK;
}

#endif /* ENTQ_GET_ROWS_H */
