// libFuzzer target: the stream parser and validator (native/stream/entq_format.h,
// entq_verify_payload). Input: any bytes, taken as one ENTQ stream.
// Properties: no out-of-bounds access (ASan), no UB (UBSan), and when the
// parser accepts, every offset it reports lies inside the buffer and the
// table is a proper distribution, which is what lets decoders index freely.
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "stream/entq_decode.h"

static void check_accepted(const entq_info &in, const uint8_t *buf, uint64_t size) {
    FUZZ_CHECK(in.size == size);
    FUZZ_CHECK(in.K >= 1 && in.N >= 1 && in.rows_per_seg >= 1 && in.rows_per_seg <= in.N);
    FUZZ_CHECK((uint64_t)in.n_seg * in.rows_per_seg >= in.N && (uint64_t)(in.n_seg - 1) * in.rows_per_seg < in.N);
    FUZZ_CHECK(in.code_kind != ENTQ_CODES_CUSTOM || in.codebook_off + 512 <= in.scales_off);
    FUZZ_CHECK(in.scales_off + 2 * (uint64_t)in.N <= in.index_off);
    FUZZ_CHECK(in.index_off % 4 == 0 && in.index_off + 4 * (uint64_t)in.n_seg == in.payload_off);
    FUZZ_CHECK(in.payload_off + in.payload_bytes == size);
    // the table: present symbols ascending, each with freq >= 1, summing to 2^b; cum consistent
    uint64_t sum = 0;
    uint32_t present = 0;
    for (uint32_t s = 0; s < 256; s++) {
        FUZZ_CHECK(in.cum[s] == sum);
        sum += in.freq[s];
        present += in.freq[s] != 0;
    }
    FUZZ_CHECK(sum == (1ull << in.prob_bits) && present == in.n_sym);
    for (uint32_t i = 0; i < in.n_sym; i++) {
        FUZZ_CHECK(in.freq[in.symbols[i]] >= 1);
        FUZZ_CHECK(i == 0 || in.symbols[i] > in.symbols[i - 1]);
    }
    // every segment: inside the payload, at least its 32 states, 4-aligned
    uint64_t prev_end = in.payload_off;
    for (uint32_t s = 0; s < in.n_seg; s++) {
        uint64_t a, b;
        entq_segment_range(&in, buf, s, &a, &b);
        FUZZ_CHECK(a == prev_end && a + ENTQ_SEGMENT_STATE_BYTES <= b && b <= size && a % 4 == 0 && b % 4 == 0);
        prev_end = b;
    }
    FUZZ_CHECK(prev_end == size);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // a heap copy of exactly `size` bytes, so ASan sees any read past the end
    std::unique_ptr<uint8_t[]> buf(new uint8_t[size ? size : 1]);
    if (size) memcpy(buf.get(), data, size);

    entq_info fixed, in;
    const int st_fixed = entq_parse_fixed(buf.get(), size, &fixed);
    const int st = entq_parse(buf.get(), size, &in);
    entq_check_crc(buf.get(), size);
    if (st != ENTQ_OK) return 0;

    // what the header-only parse reports agrees with the full one
    FUZZ_CHECK(st_fixed == ENTQ_OK && fixed.K == in.K && fixed.N == in.N && fixed.n_seg == in.n_seg);
    check_accepted(in, buf.get(), size);
    entq_info shaped;
    FUZZ_CHECK(entq_parse_shape(buf.get(), size, in.K, in.N, &shaped) == ENTQ_OK);
    FUZZ_CHECK(entq_parse_shape(buf.get(), size, in.K + 1, in.N, &shaped) == ENTQ_ERR_SHAPE);

    // the deep check on a copy with its checksum made right, so the payload is decoded
    entq_wr32(buf.get() + ENTQ_CRC_OFFSET, entq_stream_crc(buf.get(), size));
    FUZZ_CHECK(entq_check_crc(buf.get(), size) == ENTQ_OK);
    if (!fuzz_small_enough(&in)) return 0;
    std::unique_ptr<entq_dtable> t(new entq_dtable);
    entq_build_dtable(&in, buf.get(), t.get());
    std::vector<uint8_t> row(in.K);
    const int deep = entq_verify_payload(&in, buf.get(), t.get(), row.data());
    FUZZ_CHECK(deep == ENTQ_OK || deep == ENTQ_ERR_PAYLOAD);
    // a flipped checksum bit is always caught
    buf[ENTQ_CRC_OFFSET] ^= 1;
    FUZZ_CHECK(entq_verify_payload(&in, buf.get(), t.get(), row.data()) == ENTQ_ERR_CHECKSUM);
    return 0;
}
