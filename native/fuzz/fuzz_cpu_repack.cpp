// libFuzzer target: the CPU layout (native/cpu/entq_repack.h builds it from
// a stream at load, native/cpu/entq_cpu_layout.h decodes it), on every
// stream the parser accepts. Input: one ENTQ stream.
// Properties: the repack refuses exactly the streams the reference decoder
// finds corrupt (naming the first bad segment) or whose values are no int8
// grid; when it succeeds, both layout decoders give, row for row, the levels
// of the reference decoder's codes, and write no further than
// ENTQ_LAYOUT_OVERRUN bytes past a stream's rows.
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/entq_repack.h"
#include "fuzz/fuzz_check.h"

namespace {

constexpr uint32_t GUARD = 64;  // bytes checked untouched past each stream's overrun
constexpr uint8_t SENTINEL = 0xA5;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::unique_ptr<uint8_t[]> buf;
    entq_info in;
    if (!fuzz_parse_copy(data, size, buf, &in)) return 0;
    const uint8_t *b = buf.get();
    const uint32_t K = in.K, N = in.N;

    // the reference: every segment's codes and status
    std::unique_ptr<entq_dtable> t(new entq_dtable);
    entq_build_dtable(&in, b, t.get());
    std::vector<uint8_t> codes((uint64_t)K * N);
    int first_bad = -1;
    for (uint32_t seg = 0; seg < in.n_seg && first_bad < 0; seg++)
        if (entq_decode_codes(&in, b, t.get(), seg, seg + 1, codes.data() + (uint64_t)seg * in.rows_per_seg * K) != ENTQ_OK)
            first_bad = (int)seg;

    int e;
    int8_t level[256] = {0};
    const bool grid = entq_repack_levels(&in, b, &e, level);
    entq_repack_result res = entq_repack(&in, b, 1, 1e9);
    if (!grid) {
        FUZZ_CHECK(res.status == ENTQ_REPACK_LEVELS);
        return 0;
    }
    if (first_bad >= 0) {
        FUZZ_CHECK(res.status == ENTQ_REPACK_PAYLOAD && res.seg == (uint32_t)first_bad);
        return 0;
    }
    FUZZ_CHECK(res.status == ENTQ_REPACK_OK);
    const entq_layout *L = (const entq_layout *)res.data.get();
    FUZZ_CHECK(L->magic == ENTQ_LAYOUT_MAGIC && L->K == K && L->N == N && L->bytes == res.layout_bytes);
    FUZZ_CHECK(L->n_codes >= 1 && L->n_codes <= (1u << ENTQ_LAYOUT_TABLE_BITS));
    for (uint32_t r = 0; r < N; r++) {  // the row scales travel with the layout, scale_base and 2^e folded into unit
        const float want = entq_row_scale(&in, b, r), got = entq_layout_row_scale(L, r) / std::ldexp(1.0f, e);
        if (std::isfinite(got) && want > 1e-30f) FUZZ_CHECK(std::fabs(got - want) <= 1e-6f * want);  // else unit under/overflowed
    }

    std::vector<uint64_t> tab(1u << ENTQ_LAYOUT_TABLE_BITS);
    entq_layout_build_table(L, tab.data());
    const uint32_t G = entq_layout_group_rows(L), R = L->rows_per_stream;
    const size_t stride = (size_t)R * K + ENTQ_LAYOUT_OVERRUN + GUARD;
    std::vector<int8_t> out(ENTQ_LAYOUT_STREAMS * stride);
    for (uint32_t g = 0; g < L->n_groups; g++) {
        memset(out.data(), SENTINEL, out.size());
        entq_layout_decode_group(L, tab.data(), g, out.data(), stride);
        for (uint32_t s = 0; s < ENTQ_LAYOUT_STREAMS; s++) {
            const uint32_t rows = entq_layout_stream_rows(L, g, s);
            const int8_t *o = out.data() + s * stride;
            for (size_t i = (size_t)rows * K + ENTQ_LAYOUT_OVERRUN; i < stride; i++) FUZZ_CHECK((uint8_t)o[i] == SENTINEL);
            // the plain decoder, into a buffer of exactly what it may write
            std::vector<int8_t> one((size_t)rows * K + ENTQ_LAYOUT_OVERRUN);
            entq_layout_decode_stream(L, tab.data(), g, s, one.data());
            for (uint32_t j = 0; j < rows; j++) {
                const uint64_t r = (uint64_t)g * G + (uint64_t)j * ENTQ_LAYOUT_STREAMS + s;
                FUZZ_CHECK(r < N);
                for (uint32_t k = 0; k < K; k++) {
                    const int8_t want = level[codes[r * K + k]];
                    FUZZ_CHECK(o[(size_t)j * K + k] == want && one[(size_t)j * K + k] == want);
                }
            }
        }
    }
    return 0;
}
