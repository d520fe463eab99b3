// entq_coded_fixture.h - coded test weights for the ggml-level tests of
// GGML_TYPE_ENTQ on any backend (native/cpu/test, native/cuda/test): a
// stream of low-entropy random codes, its exactly dequantised weights (what
// every backend must multiply by) and the [K, N] view the loader would make
// (or, for a stack of experts, the [K, N / E, E] view).
#pragma once
#include <cmath>
#include <cstring>
#include <vector>

#include "ggml.h"

#include "ggml/entq_ggml.h"
#include "stream/entq_decode.h"
#include "stream/entq_encode.h"
#include "../../test/test.h"

namespace entq_fixture {

struct Coded {
    uint32_t K, N;  // N: all rows (of a stack: E experts' N / E rows each)
    std::vector<uint8_t> stream;
    std::vector<float> w;  // N x K, dequantised exactly as every backend must
    uint32_t E = 1;        // experts: 1 for a matrix
};

// Low-entropy codes like a quantiser's (mostly near zero), random row scales; |code index| <= max_code
// (E4M3 codes up to 39 are E4M3 values up to 120 x 2^-9: one int8 grid, as the quantiser's at 2-4 bits).
// experts > 0: N rows are that many experts' matrices in one stream (segments inside experts).
inline Coded make_coded(uint32_t K, uint32_t N, uint32_t kind, uint32_t segment_symbols, uint64_t seed, int max_code = 100,
                        uint32_t experts = 0) {
    entq_test::Rng rng(seed);
    std::vector<uint8_t> codes((size_t) K * N);
    for (auto & c : codes) {
        int v = (int) std::lround(std::tan((rng.uniform() - 0.5) * 2.8) * 6.0);  // heavy-tailed
        v = v < -max_code ? -max_code : v > max_code ? max_code : v;
        c = kind == ENTQ_CODES_INT8 ? (uint8_t) (int8_t) v : (uint8_t) ((v < 0 ? 0x80 : 0) | (std::abs(v) & 0x3f));  // E4M3/custom: no NaN code
    }
    std::vector<uint16_t> scales(N), book(256);
    for (auto & s : scales) s = entq_f32_to_f16((float) (0.25 + rng.uniform()));
    for (auto & b : book) b = entq_f32_to_f16((float) ((rng.uniform() - 0.5) * 8.0));
    entq_params p = {};
    p.code_kind = kind;
    p.codebook = kind == ENTQ_CODES_CUSTOM ? book.data() : nullptr;
    p.scale_base = 1.0f / 64;
    p.row_scales = scales.data();
    p.segment_symbols = segment_symbols;
    p.n_expert = experts;
    entq_plan_t plan;
    Coded c{K, N, {}, {}, experts ? experts : 1};
    if (entq_plan(K, N, codes.data(), &p, &plan) != ENTQ_OK) return c;
    c.stream.resize(entq_encode_bound(&plan));
    uint64_t size = 0;
    if (entq_encode(&plan, codes.data(), c.stream.data(), &size) != ENTQ_OK) return Coded{K, N, {}, {}};
    c.stream.resize(size);
    entq_info in;
    static entq_dtable t;
    std::vector<uint8_t> row(K);
    c.w.resize((size_t) K * N);
    if (entq_parse(c.stream.data(), size, &in) != ENTQ_OK) return Coded{K, N, {}, {}};
    entq_build_dtable(&in, c.stream.data(), &t);
    if (entq_decode_dequantize(&in, c.stream.data(), &t, 0, in.n_seg, c.w.data(), row.data()) != ENTQ_OK) return Coded{K, N, {}, {}};
    return c;
}

struct Ctx {
    ggml_context * ctx;
    explicit Ctx(size_t bytes, bool no_alloc = false) {
        ggml_init_params ip = {bytes, nullptr, no_alloc};
        ctx = ggml_init(ip);
    }
    ~Ctx() { ggml_free(ctx); }
};

// The coded blob (1-D, S bytes) and its [K, N] (or [K, N / E, E]) view, as the patched loader makes them.
// (a no_alloc context leaves the bytes to the caller: ggml_backend_tensor_set on view_src)
inline ggml_tensor * coded_view(ggml_context * ctx, const Coded & c) {
    ggml_tensor * blob = ggml_new_tensor_1d(ctx, GGML_TYPE_ENTQ, (int64_t) c.stream.size());
    ggml_set_name(blob, "blk.0.ffn_down.weight");
    if (blob->data) memcpy(blob->data, c.stream.data(), c.stream.size());
    return entq_ggml_weight_view(ctx, blob, c.K, c.N / c.E, c.E);
}

// sum over columns and rows of (y - ref)^2 / ref^2, ref = W x in f64.
inline double nmse_vs_f64(const Coded & c, const float * x, const float * y, uint32_t B) {
    double err = 0, ref2 = 0;
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t n = 0; n < c.N; n++) {
            double ref = 0;
            for (uint32_t k = 0; k < c.K; k++) ref += (double) c.w[(size_t) n * c.K + k] * x[(size_t) b * c.K + k];
            const double d = (double) y[(size_t) b * c.N + n] - ref;
            err += d * d;
            ref2 += ref * ref;
        }
    return ref2 > 0 ? err / ref2 : err;
}

}  // namespace entq_fixture
