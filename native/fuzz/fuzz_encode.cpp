// libFuzzer target: the encoder the converter calls (native/stream/entq_encode.h,
// behind the addon's encode()), with any codes, shape, row scales, scale
// base, codebook, segment size and prob_bits.
// Input: [kind][prob_bits][segment symbols u16][N-1][K-1][scale_base f32]
//        [N row scales f16][256 f16 codebook if custom][codes, repeated to N x K].
// Properties: bad arguments are refused with a status (never a crash); an
// accepted tensor encodes within entq_encode_bound into a stream that
// parses, passes its checksum and payload check, and decodes to the codes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "stream/entq_decode.h"
#include "stream/entq_encode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 10) return 0;
    const uint32_t kind = data[0] % 3;
    const uint32_t prob_bits = data[1] % 8 == 0 ? 0 : 7 + data[1] % 8;  // 0 (choose) or 8..14
    const uint32_t seg_syms = entq_rd16(data + 2);
    const uint32_t N = 1 + data[4] % 48, K = 1 + data[5] % 160;
    const float scale_base = entq_bits_f32(entq_rd32(data + 6));
    size_t off = 10;
    auto take16 = [&](std::vector<uint16_t> &v) {
        for (auto &h : v) {
            h = off + 2 <= size ? entq_rd16(data + off) : (uint16_t)0x3c00;  // 1.0 when the input ran out
            off += 2;
        }
    };
    std::vector<uint16_t> scales(N), codebook(256);
    take16(scales);
    if (kind == ENTQ_CODES_CUSTOM) take16(codebook);
    std::vector<uint8_t> codes((size_t)K * N, 0);
    if (off < size)
        for (size_t i = 0; i < codes.size(); i++) codes[i] = data[off + i % (size - off)];

    entq_params p = {kind, kind == ENTQ_CODES_CUSTOM ? codebook.data() : nullptr, scale_base, scales.data(), seg_syms, prob_bits};
    entq_plan_t plan;
    const int st = entq_plan(K, N, codes.data(), &p, &plan);
    // what entq_plan must refuse, it refuses (and nothing else)
    bool scales_ok = true;
    for (uint16_t h : scales) scales_ok &= entq_isfinite(entq_f16_to_f32(h)) && entq_f16_to_f32(h) >= 0.0f;
    bool codes_ok = true;
    float vmax = 0;
    for (uint8_t c : codes) {
        const float v = kind == ENTQ_CODES_E4M3 ? entq_e4m3_to_f32(c) : kind == ENTQ_CODES_INT8 ? entq_int8_to_f32(c) : entq_f16_to_f32(codebook[c]);
        codes_ok &= entq_isfinite(v) != 0;
        if (entq_isfinite(v)) vmax = std::max(vmax, std::fabs(v));
    }
    const bool base_ok = entq_isfinite(scale_base) && scale_base > 0.0f;
    if (!base_ok) { FUZZ_CHECK(st == ENTQ_ERR_ARG); return 0; }
    if (!scales_ok) { FUZZ_CHECK(st == ENTQ_ERR_SCALES); return 0; }
    if (!codes_ok) { FUZZ_CHECK(st == ENTQ_ERR_CODEBOOK); return 0; }
    bool values_ok = true;  // every dequantised value finite (what entq_parse requires)
    for (uint16_t h : scales) values_ok &= entq_isfinite(scale_base * entq_f16_to_f32(h)) && entq_isfinite(vmax * (scale_base * entq_f16_to_f32(h)));
    if (!values_ok) { FUZZ_CHECK(st == ENTQ_ERR_SCALES); return 0; }
    FUZZ_CHECK(st == ENTQ_OK);

    const uint64_t bound = entq_encode_bound(&plan);
    std::vector<uint32_t> out32((bound + 3) / 4);  // the encoder wants 4-aligned output
    uint8_t *out = reinterpret_cast<uint8_t *>(out32.data());
    uint64_t bytes = 0;
    FUZZ_CHECK(entq_encode(&plan, codes.data(), out, &bytes) == ENTQ_OK && bytes <= bound);

    entq_info in;
    FUZZ_CHECK(entq_parse_shape(out, bytes, K, N, &in) == ENTQ_OK);
    FUZZ_CHECK(entq_check_crc(out, bytes) == ENTQ_OK);
    std::unique_ptr<entq_dtable> t(new entq_dtable);
    entq_build_dtable(&in, out, t.get());
    std::vector<uint8_t> row(K), back(codes.size());
    FUZZ_CHECK(entq_verify_payload(&in, out, t.get(), row.data()) == ENTQ_OK);
    FUZZ_CHECK(entq_decode_codes(&in, out, t.get(), 0, in.n_seg, back.data()) == ENTQ_OK);
    FUZZ_CHECK(back == codes);
    for (uint32_t r = 0; r < N; r++) FUZZ_CHECK(entq_rd16(out + in.scales_off + 2 * r) == scales[r]);
    return 0;
}
