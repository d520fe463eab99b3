// GET_ROWS on coded weights (native/cpu/entq_get_rows.h): single rows from
// the CPU layout and from the rANS stream, in any order, equal bit for bit to
// the reference's dequantised rows (entq_decode_dequantize).
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/entq_get_rows.h"
#include "cpu/entq_repack.h"
#include "stream_corpus.h"
#include "test.h"

using entq_test::Rng;

namespace {

struct Coded {
    std::vector<uint8_t> stream;
    entq_info in;
    std::vector<float> want;  // the reference's dequantised rows
    entq_repack_result layout;
};

Coded code(uint32_t K, uint32_t N, uint32_t kind, uint32_t seg_symbols, uint64_t seed) {
    Coded c;
    std::vector<uint8_t> codes = makeCodes((uint64_t) K * N, Dist::Laplace, kind, seed);
    if (kind == ENTQ_CODES_E4M3)  // one int8 grid, so that the CPU layout takes it
        for (auto & v : codes) v = (uint8_t) ((v & 0x80) | std::min<uint8_t>(v & 0x7f, 0x27));
    c.stream = encodeCodes(K, N, codes, kind, seg_symbols);
    if (c.stream.empty() || entq_parse(c.stream.data(), c.stream.size(), &c.in) != ENTQ_OK) return c;
    auto t = std::make_unique<entq_dtable>();
    entq_build_dtable(&c.in, c.stream.data(), t.get());
    std::vector<uint8_t> row_buf(K);
    c.want.resize((size_t) K * N);
    if (entq_decode_dequantize(&c.in, c.stream.data(), t.get(), 0, c.in.n_seg, c.want.data(), row_buf.data()) != ENTQ_OK)
        c.want.clear();
    c.layout = entq_repack(&c.in, c.stream.data(), 1, 1e9);
    return c;
}

// The rows in `order`, from both representations, against the reference; one cache for all, as a thread keeps it.
bool sameRows(const Coded & c, const std::vector<uint32_t> & order, const char * what) {
    const uint32_t K = c.in.K;
    std::vector<float> got(K);
    entq_row_cache cache;
    const auto * L = c.layout.status == ENTQ_REPACK_OK ? (const entq_layout *) c.layout.data.get() : nullptr;
    for (uint32_t row : order) {
        const float * want = c.want.data() + (size_t) row * K;
        std::fill(got.begin(), got.end(), -1.0f);
        const int st = entq_stream_get_row(&c.in, c.stream.data(), row, cache, got.data());
        if (st != ENTQ_OK || std::memcmp(got.data(), want, K * sizeof(float)) != 0) {
            std::fprintf(stderr, "  %s: stream row %u: status %d or values differ\n", what, row, st);
            return false;
        }
        if (!L) continue;
        std::fill(got.begin(), got.end(), -1.0f);
        entq_layout_get_row(L, row, cache, got.data());
        if (std::memcmp(got.data(), want, K * sizeof(float)) != 0) {
            std::fprintf(stderr, "  %s: layout row %u differs\n", what, row);
            return false;
        }
    }
    return true;
}

}  // namespace

TEST(cpu_get_rows_equal_reference_rows) {
    struct Shape { uint32_t K, N, seg; };
    // one and many segments; rows per segment 1, several and all; the CPU layout's groups short and full
    const Shape shapes[] = {{1, 1, 0}, {7, 300, 0}, {64, 500, 0}, {64, 500, 64}, {64, 500, 640}, {288, 512, 0}, {4097, 9, 0}, {31, 1000, 200}};
    int n_layout = 0;
    for (const Shape & sh : shapes)
        for (uint32_t kind : {(uint32_t) ENTQ_CODES_E4M3, (uint32_t) ENTQ_CODES_INT8}) {
            Coded c = code(sh.K, sh.N, kind, sh.seg, sh.K * 7919ull + sh.N + kind);
            CHECKF(!c.want.empty(), "K=%u N=%u kind %u: no reference", sh.K, sh.N, kind);
            n_layout += c.layout.status == ENTQ_REPACK_OK;
            char what[96];
            std::snprintf(what, sizeof(what), "K=%u N=%u seg %u kind %u", sh.K, sh.N, sh.seg, kind);
            std::vector<uint32_t> order;
            for (uint32_t r = 0; r < sh.N; r++) order.push_back(r);  // in order: the decoders continue
            for (uint32_t r = sh.N; r-- > 0;) order.push_back(r);    // backwards: every segment restarts
            Rng rng(sh.N);
            for (uint32_t i = 0; i < 2 * sh.N; i++) {  // a prompt's tokens: random, some repeated
                const uint32_t r = (uint32_t) (rng.uniform() * sh.N) % sh.N;
                order.push_back(r);
                if (i % 5 == 0) order.push_back(r);
            }
            CHECK(sameRows(c, order, what));
        }
    CHECKF(n_layout >= 8, "only %d of the cases had a CPU layout", n_layout);
}

TEST(cpu_get_rows_stream_reports_damage_at_segment_end) {
    // a stream whose last word is changed: the row that ends its segment decodes to a bad end state
    Coded c = code(64, 40, ENTQ_CODES_INT8, 64 * 8, 3);
    CHECK(!c.want.empty() && c.in.n_seg == 5);
    uint64_t start, end;
    entq_segment_range(&c.in, c.stream.data(), 2, &start, &end);
    for (uint64_t b = start; b < start + ENTQ_SEGMENT_STATE_BYTES; b++) c.stream[b] ^= 0x5a;  // lane states: never end at L
    entq_row_cache cache;
    std::vector<float> row(64);
    CHECK(entq_stream_get_row(&c.in, c.stream.data(), 16, cache, row.data()) == ENTQ_OK);  // segment 2, not at its end
    CHECK(entq_stream_get_row(&c.in, c.stream.data(), 23, cache, row.data()) == ENTQ_ERR_PAYLOAD);
    CHECK(entq_stream_get_row(&c.in, c.stream.data(), 24, cache, row.data()) == ENTQ_OK);  // segment 3 is sound
}
