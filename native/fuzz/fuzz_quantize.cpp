// libFuzzer target: the quantiser the converter runs on a GGUF's weights
// (native/quant/entq_quantize.h and entq_rate_sample.h, behind the addon's
// quantize() and quantRateSample()), then the encoder on its output, as
// convert does.
// Input: [flags][N-1][K-1][lambda][target][segment symbols][weights as raw
//        f32 bits, repeated to N x K]: NaN, infinities, subnormals, huge
//        values and all-zero rows come from the bytes as they fall.
// Properties: a weight that is not finite is refused as NONFINITE, other
// failures are ARG/TARGET with a message, never a crash; accepted output has
// valid codes and finite row scales and encodes into a stream that decodes
// to the same codes; a rate sample predicts finite bits for every lambda.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "quant/entq_rate_sample.h"
#include "stream/entq_decode.h"
#include "stream/entq_encode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 6) return 0;
    const uint8_t f = data[0];
    const uint32_t N0 = 1 + data[1] % 8, K0 = 1 + data[2] % 40;  // small: a lambda search runs up to ~40 passes
    entq_quant_opts o;
    o.code_kind = f & 1 ? ENTQ_CODES_INT8 : ENTQ_CODES_E4M3;
    o.method = (f >> 1) % 3;
    o.lambda = std::ldexp(1.0, (int)(data[3] % 40) - 16);
    o.target_bits = (f >> 3) & 1 ? 0.25 + data[4] / 32.0 : 0;  // 0.25..8.2 bits: some unreachable
    if (o.method == ENTQ_METHOD_ABSMAX) o.target_bits = 0;       // refused as ARG: checked by the unit tests
    o.fallback_gap = (f >> 4) & 1 ? 0 : ENTQ_FALLBACK_GAP;
    o.ecq_iters = 1 + (f >> 6);  // 1..4 (the default): fewer re-estimates keep ECQ's lambda search affordable
    o.n_threads = 1;
    o.segment_symbols = data[5] < 128 ? 0 : 32u * (data[5] - 127);
    const bool curve = (f >> 5) & 1;
    // ECQ meeting a target searches two lambdas of up to ~40 passes each: on tiny tensors only, or
    // those inputs (which the fuzzer favours for their coverage) would take most of the run
    const bool ecq_target = o.method == ENTQ_METHOD_ECQ && o.target_bits > 0;
    const uint32_t N = ecq_target ? 1 + data[1] % 4 : N0, K = ecq_target ? 1 + data[2] % 16 : K0;

    std::vector<float> w((size_t)N * K, 0.0f);
    const size_t avail = (size - 6) / 4;
    bool finite = true;
    for (size_t i = 0; i < w.size(); i++) {
        if (avail) w[i] = entq_bits_f32(entq_rd32(data + 6 + 4 * (i % avail)));
        finite &= entq_isfinite(w[i]) != 0;
    }

    entq_quant_report rep;
    std::string err;
    if (curve) {
        entq_quant_opts c = o;
        c.method = ENTQ_METHOD_L1;
        c.target_bits = 0;
        entq_rate_sample sample;
        const int st = entq_rate_sample_make(w.data(), N, K, c, 1 + data[4] % N, sample, err);
        FUZZ_CHECK(finite ? st == ENTQ_QUANT_OK || st == ENTQ_QUANT_ERR_ARG : st == ENTQ_QUANT_ERR_NONFINITE);
        FUZZ_CHECK(st == ENTQ_QUANT_OK || !err.empty());
        if (st == ENTQ_QUANT_OK) {
            const entq_rate_sample *p = &sample;
            for (double l : {0.5, o.lambda, 64.0}) {
                double b;
                entq_rate_samples_bits(&p, 1, l, 1, &b);
                FUZZ_CHECK(std::isfinite(b) && b > 0);
            }
        }
        return 0;
    }

    std::vector<uint8_t> codes(w.size());
    std::vector<uint16_t> scales(N);
    const int st = entq_quantize_tensor(w.data(), N, K, o, codes.data(), scales.data(), rep, err);
    if (!finite) {
        FUZZ_CHECK(st == ENTQ_QUANT_ERR_NONFINITE && !err.empty());
        return 0;
    }
    // ARG: weights so large that no finite row scale exists; TARGET: a rate this tensor cannot meet
    FUZZ_CHECK(st == ENTQ_QUANT_OK || st == ENTQ_QUANT_ERR_ARG || (st == ENTQ_QUANT_ERR_TARGET && o.target_bits > 0));
    if (st != ENTQ_QUANT_OK) {
        FUZZ_CHECK(!err.empty());
        return 0;
    }
    FUZZ_CHECK(entq_isfinite(rep.scale_base) && rep.scale_base > 0.0f);
    for (uint16_t h : scales) FUZZ_CHECK(entq_isfinite(entq_f16_to_f32(h)) && entq_f16_to_f32(h) >= 0.0f);
    for (uint8_t c : codes) FUZZ_CHECK(o.code_kind != ENTQ_CODES_E4M3 || (c & 0x7f) != 0x7f);  // never the NaN code
    FUZZ_CHECK(std::isfinite(rep.bits_per_weight) && std::isfinite(rep.err.sq_err));

    // the converter's next step: encode what came out, and it must decode back
    entq_params p = {o.code_kind, nullptr, rep.scale_base, scales.data(), o.segment_symbols, 0};
    entq_plan_t plan;
    FUZZ_CHECK(entq_plan(K, N, codes.data(), &p, &plan) == ENTQ_OK);
    std::vector<uint32_t> out32((entq_encode_bound(&plan) + 3) / 4);
    uint8_t *out = reinterpret_cast<uint8_t *>(out32.data());
    uint64_t bytes = 0;
    FUZZ_CHECK(entq_encode(&plan, codes.data(), out, &bytes) == ENTQ_OK);
    entq_info in;
    FUZZ_CHECK(entq_parse_shape(out, bytes, K, N, &in) == ENTQ_OK);
    std::unique_ptr<entq_dtable> t(new entq_dtable);
    entq_build_dtable(&in, out, t.get());
    std::vector<uint8_t> back(codes.size());
    FUZZ_CHECK(entq_decode_codes(&in, out, t.get(), 0, in.n_seg, back.data()) == ENTQ_OK && back == codes);
    return 0;
}
