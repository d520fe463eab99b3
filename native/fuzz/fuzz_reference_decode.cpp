// libFuzzer target: the reference decoder (native/stream/entq_decode.h) on
// every stream the parser accepts; the checksum is not required, as on a
// load path that skips it. Input: one ENTQ stream.
// Properties: no out-of-bounds access or UB whatever the payload words;
// only present symbols come out; codes, dequantised values and dot products
// agree with each other and fail on the same segment; a run split at any
// symbols decodes what one run does.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "stream/entq_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    std::unique_ptr<uint8_t[]> buf;
    entq_info in;
    if (!fuzz_parse_copy(data, size, buf, &in)) return 0;
    const uint8_t *b = buf.get();
    std::unique_ptr<entq_dtable> t(new entq_dtable);
    entq_build_dtable(&in, b, t.get());

    const uint64_t n = (uint64_t)in.K * in.N;
    std::vector<uint8_t> codes(n), row(in.K);
    std::vector<float> values(n), x(in.K), y(in.N);
    for (uint32_t k = 0; k < in.K; k++) x[k] = (float)((k * 37u) % 17) - 8.0f;

    for (uint32_t seg = 0; seg < in.n_seg; seg++) {
        const uint64_t first = (uint64_t)seg * in.rows_per_seg * in.K;
        const int st_codes = entq_decode_codes(&in, b, t.get(), seg, seg + 1, codes.data() + first);
        const int st_values = entq_decode_dequantize(&in, b, t.get(), seg, seg + 1, values.data() + first, row.data());
        const int st_dot = entq_decode_dot(&in, b, t.get(), seg, seg + 1, x.data(), y.data() + seg * in.rows_per_seg, row.data());
        FUZZ_CHECK(st_codes == ENTQ_OK || st_codes == ENTQ_ERR_PAYLOAD);
        FUZZ_CHECK(st_values == st_codes && st_dot == st_codes);

        // the same segment in pieces: sizes taken from the (unchecked) checksum bytes
        entq_decoder d;
        entq_dec_init(&in, b, seg, &d);
        std::vector<uint8_t> pieces(d.count);
        uint32_t seed = entq_rd32(b + ENTQ_CRC_OFFSET) | 1;
        for (uint64_t done = 0; done < d.count;) {
            seed = seed * 1103515245u + 12345u;
            const uint64_t step = std::min<uint64_t>(d.count - done, 1 + (seed >> 16) % 97);
            entq_dec_run(t.get(), &d, step, pieces.data() + done);
            done += step;
        }
        FUZZ_CHECK(entq_dec_finish(&d) == st_codes);
        FUZZ_CHECK(memcmp(pieces.data(), codes.data() + first, d.count) == 0);
    }
    for (uint64_t i = 0; i < n; i++) {
        FUZZ_CHECK(in.freq[codes[i]] != 0);
        const float want = t->value[codes[i]] * entq_row_scale(&in, b, (uint32_t)(i / in.K));
        FUZZ_CHECK(memcmp(&want, &values[i], 4) == 0 && std::isfinite(want));  // entq_parse promises finite values
    }
    return 0;
}
