/* entq_repack.h - builds the CPU layout (entq_cpu_layout.h) from a parsed
 * ENTQ stream: decode every segment (checking it), choose a prefix code,
 * write the streams. Runs at model load, on as many threads as asked.
 *
 *   levels     every present symbol's value must be level x 2^e with one e
 *              and |level| <= 127 (the integer grid GUIDE 6 describes: FP8
 *              codes at 2-4 bits are small multiples of 2^-9; INT8 codes are
 *              their own levels); otherwise there is no int8 layout
 *   code       optimal lengths <= 11 bits (package-merge) over single symbols
 *              and, when at most 2048 pairs occur, over pairs of symbols;
 *              whichever makes the smaller layout
 *   rule       the caller keeps the stream when the layout is larger than
 *              max_growth x the stream (entq_repack_result::layout_bytes says
 *              by how much)
 *
 * Memory while it runs: the whole tensor's codes (N x K bytes: the code is
 * chosen from their counts before any stream is written), per thread a pair
 * histogram (512 KB) and its streams (~the layout's size), and the layout.
 */
#ifndef ENTQ_REPACK_H
#define ENTQ_REPACK_H

#include <algorithm>
#include <cmath>
#include <memory>
#include <thread>
#include <vector>

#include "cpu/entq_cpu_layout.h"
#include "cpu/entq_decode_avx2.h"
#include "stream/entq_decode.h"

/* Symbols per stream the repack aims at: a u32 offset per stream costs ~0.3% at 2.5 bits/weight, and
 * 2048 measured ~10% slower (shorter runs between the slots' hand-overs). */
#define ENTQ_REPACK_STREAM_SYMBOLS 4096

enum entq_repack_status {
    ENTQ_REPACK_OK = 0,
    ENTQ_REPACK_PAYLOAD,   /* a segment does not decode: the stream is corrupt (seg says which) */
    ENTQ_REPACK_LEVELS,    /* the values are not one integer grid of int8 levels */
    ENTQ_REPACK_LARGER,    /* the layout would exceed max_growth x the stream */
    ENTQ_REPACK_TOO_LARGE, /* a payload past 4 GB (u32 offsets) */
};

struct entq_repack_result {
    int status = ENTQ_REPACK_OK;
    uint32_t seg = 0;                /* the failing segment for ENTQ_REPACK_PAYLOAD */
    uint64_t layout_bytes = 0;       /* the layout's size (also when refused as larger) */
    bool pair_code = false;
    std::unique_ptr<uint8_t[]> data; /* the layout (an entq_layout), when status is OK */
};

/* The largest 2^e making every present value an integer multiple with |level| <= 127. */
static inline bool entq_repack_levels(const entq_info * in, const uint8_t * buf, int * e_out, int8_t level[256]) {
    int e = 1000;
    float vmax = 0.0f;
    for (uint32_t i = 0; i < in->n_sym; i++) {
        const float v = entq_codebook_value(in, buf, in->symbols[i]);
        if (v == 0.0f) continue;
        int ex = 0;
        double m = std::frexp((double) v, &ex);  // v = m 2^ex, |m| in [0.5, 1): 24 significant bits at most
        int64_t im = (int64_t) std::ldexp(m, 53);
        ex -= 53;
        while ((im & 1) == 0) { im >>= 1; ex++; }
        e = std::min(e, ex);
        vmax = std::max(vmax, std::fabs(v));
    }
    if (e == 1000) e = 0;  // all zeros
    if (e < -140 || e > 127 || std::ldexp((double) vmax, -e) > 127.0) return false;
    for (uint32_t i = 0; i < in->n_sym; i++) {
        const uint32_t s = in->symbols[i];
        level[s] = (int8_t) std::ldexp((double) entq_codebook_value(in, buf, s), -e);
    }
    *e_out = e;
    return true;
}

/* Runs f(i) for i in [0, n) on up to nthreads threads (the calling one included). */
template <class F>
static inline void entq_repack_parallel(uint32_t n, int nthreads, F f) {
    const uint32_t nt = (uint32_t) std::max(1, std::min<int>(nthreads, (int) n));
    std::vector<std::thread> pool;
    for (uint32_t t = 1; t < nt; t++)
        pool.emplace_back([&, t] {
            for (uint32_t i = (uint32_t) ((uint64_t) n * t / nt); i < (uint64_t) n * (t + 1) / nt; i++) f(i, t);
        });
    for (uint32_t i = 0; i < (uint64_t) n / nt; i++) f(i, 0u);
    for (auto & th : pool) th.join();
}

/* Appends code words LSB first: one unaligned 8-byte store per word, no branch
 * (out needs 8 bytes of room past the last whole byte). */
struct entq_repack_writer {
    uint8_t * out;
    uint64_t acc = 0;
    uint32_t n = 0;
    void put(uint32_t word, uint32_t len) {
        acc |= (uint64_t) word << n;
        n += len;
        memcpy(out, &acc, 8);
        out += n >> 3;
        acc >>= n & ~7u;
        n &= 7;
    }
    uint8_t * finish() {
        if (n) *out++ = (uint8_t) acc;
        return out;
    }
};

static inline entq_repack_result entq_repack(const entq_info * in, const uint8_t * buf, int nthreads, double max_growth) {
    entq_repack_result res;
    int e;
    int8_t level[256] = {0};
    if (!entq_repack_levels(in, buf, &e, level)) {
        res.status = ENTQ_REPACK_LEVELS;
        return res;
    }
    const uint32_t K = in->K, N = in->N;
    const int nt = std::max(1, nthreads);

    // groups: R rows per stream, ~ENTQ_REPACK_STREAM_SYMBOLS symbols per stream, but at least 4 groups where N allows
    const uint32_t S = ENTQ_LAYOUT_STREAMS;
    // (of a stack of experts, at least 4 groups per expert, and groups that tile an expert where some R
    // within a factor 2 of the target allows: a group straddling two experts is decoded whole for either)
    const uint32_t unit = in->n_expert ? N / in->n_expert : N;
    uint32_t R = std::max<uint32_t>(1, (ENTQ_REPACK_STREAM_SYMBOLS + K - 1) / K);
    R = std::max<uint32_t>(1, std::min<uint32_t>(R, unit / (4 * S)));
    if (in->n_expert)
        for (uint32_t r = R; r >= std::max<uint32_t>(1, R / 2); r--)
            if (unit % (S * r) == 0) {
                R = r;
                break;
            }
    const uint32_t G = S * R, n_groups = (N + G - 1) / G, n_streams = n_groups * S;
    // a stream's symbols, in order: rows g G + S j + s
    auto for_stream = [&](const uint8_t * codes, uint32_t idx, auto && f) {
        const uint32_t g = idx / S, s = idx % S;
        for (uint32_t j = 0; j < R; j++) {
            const uint64_t r = (uint64_t) g * G + (uint64_t) j * S + s;
            if (r >= N) break;
            f(codes + r * K, K);
        }
    };

    // 1. every segment's codes, each segment checked to its end; counts of pairs (a | b << 8) of
    //    codes as the streams pair them: within rows when K is even (any row order pairs alike)
    std::unique_ptr<uint8_t[]> codes(new uint8_t[(size_t) K * N]);
    std::vector<int> seg_status(in->n_seg, ENTQ_OK);
    std::vector<std::vector<uint64_t>> pc(nt, std::vector<uint64_t>(1u << 16, 0));
    entq_repack_parallel(in->n_seg, nt, [&](uint32_t seg, uint32_t t) {
        entq_decoder d;
        entq_dec_init(in, buf, seg, &d);
        uint8_t * out = codes.get() + (size_t) seg * in->rows_per_seg * K;
        std::unique_ptr<entq_dtable> tab(new entq_dtable);
        entq_build_dtable(in, buf, tab.get());
#if ENTQ_AVX2_DECODER
        if (entq_avx2_available()) {
            std::unique_ptr<entq_avx2_table> a(new entq_avx2_table);
            entq_avx2_build_table(in, buf, a.get());
            entq_avx2_dec_codes(a.get(), tab->sym, &d, d.count, out);
        } else
#endif
            entq_dec_run(tab.get(), &d, d.count, out);
        seg_status[seg] = entq_dec_finish(&d);
        if (K % 2 == 0) {
            uint64_t * c = pc[t].data();
            for (uint64_t i = 0; i < d.count; i += 2) c[out[i] | out[i + 1] << 8]++;
        }
    });
    for (uint32_t seg = 0; seg < in->n_seg; seg++)
        if (seg_status[seg] != ENTQ_OK) {
            res.status = ENTQ_REPACK_PAYLOAD;
            res.seg = seg;
            return res;
        }
    if (K % 2) {  // pairs cross rows: count them in stream order, an odd stream's last symbol paired with itself
        entq_repack_parallel(n_streams, nt, [&](uint32_t idx, uint32_t t) {
            uint64_t * c = pc[t].data();
            int prev = -1;
            for_stream(codes.get(), idx, [&](const uint8_t * row, uint32_t n) {
                for (uint32_t k = 0; k < n; k++) {
                    if (prev < 0) prev = row[k];
                    else {
                        c[prev | row[k] << 8]++;
                        prev = -1;
                    }
                }
            });
            if (prev >= 0) c[prev | prev << 8]++;
        });
    }
    std::vector<uint64_t> pair_count(1u << 16, 0), sym_count(256, 0);
    for (int t = 0; t < nt; t++)
        for (uint32_t p = 0; p < (1u << 16); p++) pair_count[p] += pc[t][p];
    pc.clear();
    for (uint32_t p = 0; p < (1u << 16); p++) {
        sym_count[p & 255] += pair_count[p];
        sym_count[p >> 8] += pair_count[p];
    }
    if (K % 2)  // the pads: an odd stream's last symbol was counted twice
        for (uint32_t idx = 0; idx < n_streams; idx++) {
            uint64_t n = 0;
            const uint8_t * last = nullptr;
            for_stream(codes.get(), idx, [&](const uint8_t * row, uint32_t k) {
                n += k;
                last = row + k - 1;
            });
            if (n & 1) sym_count[*last]--;
        }

    // 2. both codes, keep the smaller layout
    constexpr uint32_t T = ENTQ_LAYOUT_TABLE_BITS;
    struct code_choice {
        std::vector<uint32_t> id;  // code index -> symbol or pair (a | b << 8)
        std::vector<uint8_t> len;
        uint64_t payload_bits = 0;
    };
    auto make = [&](const std::vector<uint64_t> & cnt) {
        code_choice c;
        std::vector<uint64_t> w;
        for (uint32_t i = 0; i < cnt.size(); i++)
            if (cnt[i]) {
                c.id.push_back(i);
                w.push_back(cnt[i]);
            }
        c.len.resize(w.size());
        entq_prefix_lengths(w.data(), (uint32_t) w.size(), T, c.len.data());
        for (size_t i = 0; i < w.size(); i++) c.payload_bits += w[i] * c.len[i];
        return c;
    };
    code_choice single = make(sym_count);
    uint32_t n_pairs_present = 0;
    for (uint64_t c : pair_count) n_pairs_present += c != 0;
    const bool try_pairs = n_pairs_present <= (1u << T);
    code_choice pairs;
    if (try_pairs) pairs = make(pair_count);
    // stream byte alignment costs ~half a byte a stream alike in both; the code list 3 bytes a word
    const bool use_pairs =
        try_pairs && pairs.payload_bits / 8 + 3 * pairs.id.size() < single.payload_bits / 8 + 3 * single.id.size();
    code_choice & code = use_pairs ? pairs : single;
    res.pair_code = use_pairs;
    std::vector<uint32_t> words(code.id.size());
    entq_prefix_codewords(code.len.data(), (uint32_t) code.len.size(), words.data());
    // word and length by symbol (or pair): word | len << 24
    std::vector<uint32_t> enc(use_pairs ? 1u << 16 : 256, 0);
    for (size_t c = 0; c < code.id.size(); c++) enc[code.id[c]] = words[c] | (uint32_t) code.len[c] << 24;

    // 3. the streams, each thread a contiguous run of them into its own buffer (an exact bound)
    std::vector<uint64_t> stream_bytes(n_streams);
    std::vector<std::unique_ptr<uint8_t[]>> tbuf(nt);  // not zeroed: ~1.4 bytes a symbol
    std::vector<size_t> tlen(nt, 0);
    const uint32_t nrun = std::min<uint32_t>(nt, n_streams);
    entq_repack_parallel(nrun, nrun, [&](uint32_t t, uint32_t) {
        const uint32_t i0 = (uint32_t) ((uint64_t) n_streams * t / nrun), i1 = (uint32_t) ((uint64_t) n_streams * (t + 1) / nrun);
        uint64_t syms = 0;
        for (uint32_t idx = i0; idx < i1; idx++) for_stream(codes.get(), idx, [&](const uint8_t *, uint32_t n) { syms += n; });
        tbuf[t].reset(new uint8_t[(syms + (i1 - i0)) * T / 8 + 2 * (i1 - i0) + 16]);
        uint8_t * o = tbuf[t].get();
        for (uint32_t idx = i0; idx < i1; idx++) {
            entq_repack_writer w{o};
            int prev = -1;
            for_stream(codes.get(), idx, [&](const uint8_t * row, uint32_t n) {
                if (!use_pairs) {
                    for (uint32_t k = 0; k < n; k++) w.put(enc[row[k]] & 0xffffff, enc[row[k]] >> 24);
                    return;
                }
                uint32_t k = 0;
                if (prev >= 0) {  // a pair across rows (odd K)
                    const uint32_t c = enc[prev | row[0] << 8];
                    w.put(c & 0xffffff, c >> 24);
                    prev = -1;
                    k = 1;
                }
                for (; k + 1 < n; k += 2) {
                    const uint32_t c = enc[row[k] | row[k + 1] << 8];
                    w.put(c & 0xffffff, c >> 24);
                }
                if (k < n) prev = row[k];
            });
            if (prev >= 0) {
                const uint32_t c = enc[prev | prev << 8];
                w.put(c & 0xffffff, c >> 24);
            }
            uint8_t * end = w.finish();
            stream_bytes[idx] = (uint64_t) (end - o);
            o = end;
        }
        tlen[t] = (size_t) (o - tbuf[t].get());
    });
    codes.reset();
    uint64_t payload = 0;
    for (uint64_t b : stream_bytes) payload += b;
    if (payload > UINT32_MAX) {
        res.status = ENTQ_REPACK_TOO_LARGE;
        return res;
    }

    // 4. the layout's sections
    auto align8 = [](uint64_t x) { return (x + 7) & ~(uint64_t) 7; };
    entq_layout h = {};
    h.magic = ENTQ_LAYOUT_MAGIC;
    h.K = K;
    h.N = N;
    h.rows_per_stream = R;
    h.n_groups = n_groups;
    h.n_codes = (uint32_t) code.id.size();
    h.pair_code = use_pairs;
    h.code_kind = (uint8_t) in->code_kind;
    h.unit = (float) std::ldexp((double) in->scale_base, e);
    h.scales_off = align8(sizeof(entq_layout));
    h.codes_off = h.scales_off + 2 * (uint64_t) N;
    h.starts_off = align8(h.codes_off + sizeof(entq_layout_code) * h.n_codes);
    h.payload_off = align8(h.starts_off + 4 * ((uint64_t) n_streams + 1));
    h.bytes = h.payload_off + payload + ENTQ_LAYOUT_PAD;
    res.layout_bytes = h.bytes;
    if ((double) h.bytes > max_growth * (double) in->size) {
        res.status = ENTQ_REPACK_LARGER;
        return res;
    }
    res.data.reset(new uint8_t[h.bytes]);
    uint8_t * L = res.data.get();
    memset(L, 0, h.payload_off);
    memcpy(L, &h, sizeof(h));
    memcpy(L + h.scales_off, buf + in->scales_off, 2 * (size_t) N);
    // the code list in canonical order (by length, then index), the order entq_prefix_codewords numbers them in
    std::vector<uint32_t> order(code.id.size());
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return code.len[a] < code.len[b]; });
    entq_layout_code * lc = (entq_layout_code *) (L + h.codes_off);
    for (uint32_t k = 0; k < order.size(); k++) {
        const uint32_t c = order[k], id = code.id[c];
        lc[k].len = code.len[c];
        lc[k].a = level[id & 255];
        lc[k].b = use_pairs ? level[id >> 8] : 0;
    }
    uint32_t * starts = (uint32_t *) (L + h.starts_off);
    starts[0] = 0;
    for (uint32_t i = 0; i < n_streams; i++) starts[i + 1] = starts[i] + (uint32_t) stream_bytes[i];
    uint8_t * pay = L + h.payload_off;
    for (uint32_t t = 0; t < nrun; t++)  // each thread's streams are contiguous here too
        if (tlen[t]) memcpy(pay + starts[(uint64_t) n_streams * t / nrun], tbuf[t].get(), tlen[t]);
    memset(pay + payload, 0, ENTQ_LAYOUT_PAD);
    return res;
}

#endif /* ENTQ_REPACK_H */
