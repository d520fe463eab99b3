// Values near the f32 limit: found by the fuzz harness native/fuzz/fuzz_quantize.cpp.
// A tensor whose largest weight is near FLT_MAX / 1024 got row scales
// scale_base x f16 = 2^128 (infinite in f32): the stream passed validation
// and decoded to NaN. The quantiser now never picks such a scale, and the
// parser refuses a stream whose dequantised values would not be finite.
#include <cfloat>
#include <cmath>
#include <memory>
#include <vector>

#include "quant/entq_quantize.h"
#include "stream/entq_decode.h"
#include "stream/entq_encode.h"
#include "test.h"

TEST(quant_huge_weights_keep_finite_row_scales) {
    // tops from the largest weight with a finite amax / mid_0 (the search's largest scale is then
    // FLT_MAX) down by octaves: each is refused as "too large" or gives finite scales and values
    for (uint32_t kind : {ENTQ_CODES_E4M3, ENTQ_CODES_INT8})
        for (uint32_t method : {ENTQ_METHOD_ABSMAX, ENTQ_METHOD_L1, ENTQ_METHOD_ECQ})
            for (double lambda : {0.0, 14.5, 512.0}) {
                const uint32_t N = 4, K = 64;
                entq_grid g;
                entq_grid_init(&g, kind);
                int accepted = 0;
                for (int octave = 0; octave < 16; octave++) {
                    const float top = std::ldexp(FLT_MAX * g.mid[0], -octave);
                    std::vector<float> w((size_t)N * K);
                    entq_test::Rng rng(7);
                    for (size_t i = 0; i < w.size(); i++) w[i] = (float)(rng.uniform() - 0.5) * (i / K == 0 ? top : 0.02f);
                    w[5] = top;
                    entq_quant_opts o;
                    o.code_kind = kind;
                    o.method = method;
                    o.lambda = lambda;
                    o.n_threads = 1;
                    std::vector<uint8_t> codes(w.size());
                    std::vector<uint16_t> scales(N);
                    entq_quant_report rep;
                    std::string err;
                    const int st = entq_quantize_tensor(w.data(), N, K, o, codes.data(), scales.data(), rep, err);
                    if (st == ENTQ_QUANT_ERR_ARG && err.find("too large") != std::string::npos) continue;
                    CHECKF(st == ENTQ_QUANT_OK, "%s", err.c_str());
                    accepted++;
                    for (uint32_t r = 0; r < N; r++)
                        CHECKF(std::isfinite(entq_scale_value(rep.scale_base, scales[r])), "kind %u method %u lambda %g top %g row %u: base %g x f16 %04x",
                               kind, method, lambda, top, r, rep.scale_base, scales[r]);
                    CHECK(std::isfinite(rep.err.sq_err) && std::isfinite(rep.bits_per_weight));
                    // the converter's next steps: the codes encode, and decode to finite values
                    entq_params p = {kind, nullptr, rep.scale_base, scales.data(), 0, 0};
                    entq_plan_t plan;
                    CHECKF(entq_plan(K, N, codes.data(), &p, &plan) == ENTQ_OK, "kind %u method %u lambda %g top %g", kind, method, lambda, top);
                    std::vector<uint32_t> buf((entq_encode_bound(&plan) + 3) / 4);
                    uint8_t *s = reinterpret_cast<uint8_t *>(buf.data());
                    uint64_t bytes = 0;
                    CHECK(entq_encode(&plan, codes.data(), s, &bytes) == ENTQ_OK);
                    entq_info in;
                    CHECK(entq_parse(s, bytes, &in) == ENTQ_OK);
                    std::unique_ptr<entq_dtable> t(new entq_dtable);
                    entq_build_dtable(&in, s, t.get());
                    std::vector<float> v(w.size());
                    std::vector<uint8_t> row(K);
                    CHECK(entq_decode_dequantize(&in, s, t.get(), 0, in.n_seg, v.data(), row.data()) == ENTQ_OK);
                    for (float x : v) CHECK(std::isfinite(x));
                }
                CHECK(accepted >= 4);  // only the topmost octaves are refused
            }
}

TEST(parse_refuses_streams_that_dequantise_to_inf) {
    // INT8 codes 0, 1 (and in one variant one 2), row scales 1 and 2^15
    const uint32_t K = 40, N = 2;
    const uint16_t scales[2] = {0x3c00, 0x7800};
    auto codes_with = [&](uint8_t code) {
        std::vector<uint8_t> c(K * N, 1);
        c[3] = 0;
        c[K + 5] = code;
        return c;
    };
    auto stream = [&](float base, const std::vector<uint8_t> &c) {
        entq_params p = {ENTQ_CODES_INT8, nullptr, base, scales, 0, 0};
        entq_plan_t plan;
        if (entq_plan(K, N, c.data(), &p, &plan) != ENTQ_OK) return std::vector<uint8_t>();
        std::vector<uint32_t> buf((entq_encode_bound(&plan) + 3) / 4);
        uint64_t bytes = 0;
        entq_encode(&plan, c.data(), reinterpret_cast<uint8_t *>(buf.data()), &bytes);
        const uint8_t *b = reinterpret_cast<const uint8_t *>(buf.data());
        return std::vector<uint8_t>(b, b + bytes);
    };
    auto with_base = [](std::vector<uint8_t> s, float base) {  // a hostile header: scale_base rewritten, checksum made right
        entq_wr32(s.data() + 20, entq_f32_bits(base));
        entq_wr32(s.data() + ENTQ_CRC_OFFSET, entq_stream_crc(s.data(), s.size()));
        return s;
    };
    entq_info in;
    const auto ones = stream(std::ldexp(1.0f, 112), codes_with(1));  // 2^112 x 2^15 x 1 = 2^127: finite
    CHECK(!ones.empty() && entq_parse(ones.data(), ones.size(), &in) == ENTQ_OK);
    const auto inf_scale = with_base(ones, std::ldexp(1.0f, 113));  // base x row scale = 2^128
    CHECK(entq_parse(inf_scale.data(), inf_scale.size(), &in) == ENTQ_ERR_SCALES);
    const auto twos = stream(std::ldexp(1.0f, 111), codes_with(2));  // 2 x 2^15 x 2^111 = 2^127: finite
    CHECK(!twos.empty() && entq_parse(twos.data(), twos.size(), &in) == ENTQ_OK);
    const auto inf_value = with_base(twos, std::ldexp(1.0f, 112));  // the scale 2^127 is finite, 2 x 2^127 is not
    CHECK(entq_parse(inf_value.data(), inf_value.size(), &in) == ENTQ_ERR_SCALES);
    // and the encoder refuses to write either
    CHECK(stream(std::ldexp(1.0f, 113), codes_with(1)).empty() && stream(std::ldexp(1.0f, 112), codes_with(2)).empty());
    entq_plan_t plan;
    const auto c = codes_with(2);
    entq_params p = {ENTQ_CODES_INT8, nullptr, std::ldexp(1.0f, 112), scales, 0, 0};
    CHECK(entq_plan(K, N, c.data(), &p, &plan) == ENTQ_ERR_SCALES);
}

TEST(quant_subnormal_rows_get_positive_scales) {
    // rows of the smallest subnormals beside rows ~2^-120: the tensor's scale_base is so small that
    // f16 scale 1 (2^-24) underflows to 0, and a row given scale 0 quantised 0/0 to the NaN code
    const uint32_t N = 3, K = 2;
    const float w[N * K] = {6.0e-39f, -3.0e-39f, 1.4e-45f, 0.0f, 0.0f, 2.8e-45f};
    for (uint32_t kind : {ENTQ_CODES_E4M3, ENTQ_CODES_INT8})
        for (uint32_t method : {ENTQ_METHOD_ABSMAX, ENTQ_METHOD_L1, ENTQ_METHOD_ECQ})
            for (double lambda : {1.0 / 65536, 14.5}) {
                entq_quant_opts o;
                o.code_kind = kind;
                o.method = method;
                o.lambda = lambda;
                o.n_threads = 1;
                o.fallback_gap = 0;
                uint8_t codes[N * K];
                uint16_t scales[N];
                entq_quant_report rep;
                std::string err;
                CHECKF(entq_quantize_tensor(w, N, K, o, codes, scales, rep, err) == ENTQ_QUANT_OK, "%s", err.c_str());
                for (uint32_t r = 0; r < N; r++) CHECKF(entq_scale_value(rep.scale_base, scales[r]) > 0.0f, "kind %u method %u row %u", kind, method, r);
                for (uint8_t c : codes) CHECKF(kind != ENTQ_CODES_E4M3 || (c & 0x7f) != 0x7f, "kind %u method %u lambda %g: NaN code", kind, method, lambda);
                entq_params p = {kind, nullptr, rep.scale_base, scales, 0, 0};
                entq_plan_t plan;
                CHECK(entq_plan(K, N, codes, &p, &plan) == ENTQ_OK);
            }
}
