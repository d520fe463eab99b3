// Quantiser: exact E4M3/INT8 rounding, the row evaluator against the plain
// objective, the fast search against the exhaustive one, and whole tensors
// (optimised beats absmax, size falls with lambda, target rates, fallback).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "quant/entq_rate_sample.h"
#include "stream/entq_encode.h"
#include "test.h"

using entq_test::Rng;

namespace {

// Reference rounding: the nearest grid value by brute force, ties to the even code.
uint32_t nearestLevel(const entq_grid &g, double x) {
    uint32_t best = 0;
    for (uint32_t j = 1; j < g.n_levels; j++) {
        double d = std::fabs(x - g.level[j]), db = std::fabs(x - g.level[best]);
        if (d < db || (d == db && (j % 2 == 0))) best = j;
    }
    return best;
}

double gauss(Rng &r) { return std::sqrt(-2 * std::log(r.uniform())) * std::cos(6.283185307179586 * r.uniform()); }

// Heavy-tailed rows: Student-t with 4 degrees of freedom, row scales log-normal.
std::vector<float> heavyTailed(uint32_t N, uint32_t K, uint64_t seed) {
    Rng r(seed);
    std::vector<float> w((size_t)N * K);
    for (uint32_t i = 0; i < N; i++) {
        double sd = 0.02 * std::exp(0.3 * gauss(r));
        for (uint32_t k = 0; k < K; k++) {
            double chi = 0;
            for (int d = 0; d < 4; d++) { double z = gauss(r); chi += z * z; }
            w[(size_t)i * K + k] = (float)(sd * gauss(r) / std::sqrt(chi / 4));
        }
    }
    return w;
}

struct Row {
    std::vector<float> a;
    std::vector<uint32_t> tmp;
    std::vector<double> p1, p2;
    entq_row row{};
    explicit Row(uint32_t K) : a(K), tmp(2 * K), p1(K + 1), p2(K + 1) {
        row.a = a.data(); row.tmp = tmp.data(); row.p1 = p1.data(); row.p2 = p2.data();
    }
};

// Encodes with the real stream encoder; returns the stream's bytes.
uint64_t encodedBytes(uint32_t N, uint32_t K, uint32_t kind, const std::vector<uint8_t> &codes, const std::vector<uint16_t> &scales, float base) {
    entq_params p = {kind, nullptr, base, scales.data(), 0, 0};
    entq_plan_t pl;
    if (entq_plan(K, N, codes.data(), &p, &pl) != ENTQ_OK) return 0;
    std::vector<uint32_t> out((entq_encode_bound(&pl) + 3) / 4);
    uint64_t size = 0;
    if (entq_encode(&pl, codes.data(), reinterpret_cast<uint8_t *>(out.data()), &size) != ENTQ_OK) return 0;
    return size;
}

struct Quantized {
    std::vector<uint8_t> codes;
    std::vector<uint16_t> scales;
    entq_quant_report rep;
    int status;
    std::string error;
};

Quantized quantize(const std::vector<float> &w, uint32_t N, uint32_t K, const entq_quant_opts &o) {
    Quantized q;
    q.codes.assign((size_t)N * K, 0);
    q.scales.assign(N, 0);
    q.status = entq_quantize_tensor(w.data(), N, K, o, q.codes.data(), q.scales.data(), q.rep, q.error);
    return q;
}

}  // namespace

TEST(quant_e4m3_grid_values_and_midpoints) {
    entq_grid g;
    entq_grid_init(&g, ENTQ_CODES_E4M3);
    CHECK(g.n_levels == 127 && g.level[126] == 448.0f && g.level[1] == 1.0f / 512);
    for (uint32_t c = 0; c < 256; c++) {
        if ((c & 0x7f) == 0x7f) continue;  // NaN patterns
        float v = entq_e4m3_to_f32((uint8_t)c);
        uint8_t want = c == 0x80 ? 0 : (uint8_t)c;  // -0 folds to +0
        CHECKF(entq_f32_to_e4m3(v) == want, "code 0x%02x value %g", c, v);
    }
    for (uint32_t j = 0; j + 1 < g.n_levels; j++) {
        float m = g.mid[j];
        uint32_t even = (j % 2 == 0) ? j : j + 1;
        CHECKF(entq_f32_to_e4m3(m) == even, "tie %g between levels %u and %u", m, j, j + 1);
        CHECKF(entq_f32_to_e4m3(-m) == (even ? (0x80 | even) : 0), "negative tie %g", m);
        CHECK(entq_f32_to_e4m3(nextafterf(m, 0)) == j);
        CHECK(entq_f32_to_e4m3(nextafterf(m, INFINITY)) == j + 1);
    }
    CHECK(entq_f32_to_e4m3(448.0f) == 0x7e && entq_f32_to_e4m3(464.0f) == 0x7e && entq_f32_to_e4m3(1e30f) == 0x7e);
    CHECK(entq_f32_to_e4m3(INFINITY) == 0x7e && entq_f32_to_e4m3(-INFINITY) == 0xfe && entq_f32_to_e4m3(-500.0f) == 0xfe);
    CHECK(entq_f32_to_e4m3(-0.0f) == 0 && entq_f32_to_e4m3(-1e-30f) == 0 && entq_f32_to_e4m3(1e-45f) == 0);
    CHECK(entq_f32_to_e4m3(NAN) == 0x7f);
}

TEST(quant_e4m3_matches_brute_force_nearest) {
    entq_grid g;
    entq_grid_init(&g, ENTQ_CODES_E4M3);
    // every 997th f32 bit pattern from 0 to 500 (~1.1M values) and random ones
    for (uint32_t u = 0; u <= 0x43fa0000u; u += 997) {
        float x = entq_bits_f32(u);
        CHECKF(entq_f32_to_e4m3(x) == nearestLevel(g, x), "x=%a", x);
    }
    Rng r(7);
    for (int i = 0; i < 200000; i++) {
        float x = (float)(std::ldexp(r.uniform(), (int)r.below(24) - 14));
        uint32_t l = nearestLevel(g, x);
        CHECKF(entq_f32_to_e4m3(-x) == (l ? (0x80 | l) : 0), "x=%a", -x);
    }
}

TEST(quant_int8_rounding) {
    entq_grid g;
    entq_grid_init(&g, ENTQ_CODES_INT8);
    CHECK(g.n_levels == 128 && g.level[127] == 127.0f);
    for (int v = -127; v <= 127; v++) CHECK(entq_f32_to_int8((float)v) == (uint8_t)(int8_t)v);
    for (int j = 0; j < 127; j++) {
        float m = j + 0.5f;
        int even = (j % 2 == 0) ? j : j + 1;
        CHECKF(entq_f32_to_int8(m) == (uint8_t)even && entq_f32_to_int8(-m) == (uint8_t)(int8_t)(-even), "tie %g", m);
        CHECK(entq_f32_to_int8(nextafterf(m, 0)) == (uint8_t)j && entq_f32_to_int8(nextafterf(m, 200)) == (uint8_t)(j + 1));
    }
    CHECK(entq_f32_to_int8(127.4f) == 127 && entq_f32_to_int8(-128.0f) == (uint8_t)(int8_t)-127 && entq_f32_to_int8(1e30f) == 127);
    CHECK(entq_f32_to_int8(-INFINITY) == (uint8_t)(int8_t)-127 && entq_f32_to_int8(-0.3f) == 0 && entq_f32_to_int8(NAN) == 0);
    for (uint32_t u = 0; u <= 0x43000000u; u += 1009) {
        float x = entq_bits_f32(u);
        CHECKF(entq_f32_to_int8(x) == nearestLevel(g, x), "x=%a", x);
    }
}

TEST(quant_scale_base_and_rounding) {
    CHECK(entq_scale_base(1.0f) == std::ldexp(1.0f, -15));
    CHECK(entq_scale_base(1.5f) == std::ldexp(1.0f, -14));
    CHECK(entq_scale_base(0.0f) == 1.0f);
    Rng r(3);
    for (int i = 0; i < 10000; i++) {
        float mx = (float)std::ldexp(r.uniform(), (int)r.below(60) - 40);
        float base = entq_scale_base(mx);
        CHECK(mx / base <= 32768.0f && mx / base > 16384.0f);
        float s = mx * (float)r.uniform();
        uint16_t up = entq_scale_f16_up(s, base), dn = entq_scale_f16_down(s, base);
        CHECK(entq_scale_value(base, up) >= s && (up == 0 || entq_scale_value(base, (uint16_t)(up - 1)) < s));
        CHECK(entq_scale_value(base, dn) <= s && entq_scale_value(base, (uint16_t)(dn + 1)) > s);
    }
}

// The sorted-prefix evaluator gives exactly the objective of the codes entq_quantize_row produces.
TEST(quant_row_eval_equals_plain_objective) {
    for (uint32_t kind : {ENTQ_CODES_E4M3, ENTQ_CODES_INT8}) {
        entq_grid g;
        entq_grid_init(&g, kind);
        for (uint32_t K : {1u, 7u, 64u, 1000u}) {
            std::vector<float> w = heavyTailed(1, K, 100 + K);
            if (K > 5) w[3] = 0.0f;  // exact zeros are skipped by the evaluator
            Row row(K);
            entq_row_load(&row.row, w.data(), K, 1);
            Rng r(K);
            for (int t = 0; t < 200; t++) {
                double lambda = r.uniform() * 50;
                entq_cost cl;
                entq_cost_l1(&cl, &g, 3.0, 10, K, lambda);
                double counts[256] = {};
                for (int s = 0; s < 256; s++) counts[s] = r.below(1000);
                entq_cost ce;
                entq_cost_ecq(&ce, &g, 2.0, 10, K, lambda * 1e-3, counts);
                float base = entq_scale_base(entq_row_scale_max(&g, row.row.amax));
                uint16_t lo, hi;
                entq_row_scale_range(&g, row.row.amax, base, &lo, &hi);
                uint16_t h = (uint16_t)(lo + r.below(hi - lo + 1));
                float s = entq_scale_value(base, h);
                std::vector<uint8_t> q(K);
                entq_quantize_row(kind, w.data(), K, s, q.data());
                double abs_err = 0, sq_err = 0, rate_l1 = 0, rate_ecq = 0;
                for (uint32_t k = 0; k < K; k++) {
                    double v = kind == ENTQ_CODES_E4M3 ? entq_e4m3_to_f32(q[k]) : entq_int8_to_f32(q[k]);
                    double d = w[k] - (double)s * v;
                    abs_err += std::fabs(d);
                    sq_err += d * d;
                    rate_l1 += std::fabs(v);
                    rate_ecq += ce.rate[entq_grid_level_of(kind, q[k])];
                }
                double want_l1 = cl.err_w * abs_err + cl.rate_w * rate_l1;
                double want_ecq = ce.err_w * sq_err + ce.rate_w * rate_ecq;
                double got_l1 = entq_row_eval(&row.row, &cl, s, INFINITY, nullptr);
                double got_ecq = entq_row_eval(&row.row, &ce, s, INFINITY, nullptr);
                CHECKF(std::fabs(got_l1 - want_l1) <= 1e-9 * want_l1 + 1e-15, "K=%u kind=%u h=%u: %.12g vs %.12g", K, kind, h, got_l1, want_l1);
                CHECKF(std::fabs(got_ecq - want_ecq) <= 1e-7 * want_ecq + 1e-13, "K=%u kind=%u h=%u: %.12g vs %.12g", K, kind, h, got_ecq, want_ecq);
            }
        }
    }
}

// The coarse-to-fine search lands within 0.1% of the exhaustive optimum over
// stored scales for lambda > 0; at lambda = 0 (error only) the objective is
// noise-like at every scale and the search may miss by up to a few percent.
TEST(quant_fast_search_close_to_exhaustive) {
    const uint32_t N = 24, K = 512;
    std::vector<float> w = heavyTailed(N, K, 11);
    for (uint32_t kind : {ENTQ_CODES_E4M3, ENTQ_CODES_INT8}) {
        for (double lambda : {0.0, 3.9, 14.5, 58.0}) {
            entq_quant_opts o;
            o.code_kind = kind;
            o.lambda = lambda;
            o.n_threads = 1;
            Quantized fast = quantize(w, N, K, o);
            o.exhaustive = true;
            Quantized ex = quantize(w, N, K, o);
            CHECK(fast.status == ENTQ_QUANT_OK && ex.status == ENTQ_QUANT_OK);
            double tol = lambda > 0 ? 1e-3 : 3e-2;
            CHECKF(fast.rep.objective <= ex.rep.objective * (1 + tol), "kind %u lambda %g: %.9g vs exhaustive %.9g", kind, lambda,
                   fast.rep.objective, ex.rep.objective);
            CHECK(ex.rep.objective <= fast.rep.objective * (1 + 1e-12));
        }
    }
}

TEST(quant_optimised_beats_absmax_and_rate_falls_with_lambda) {
    const uint32_t N = 96, K = 320;
    std::vector<float> w = heavyTailed(N, K, 21);
    for (uint32_t kind : {ENTQ_CODES_E4M3, ENTQ_CODES_INT8}) {
        uint64_t prev = UINT64_MAX;
        for (double lambda : {0.25, 1.0, 3.9, 14.5, 58.0, 232.0}) {
            entq_quant_opts o;
            o.code_kind = kind;
            o.lambda = lambda;
            Quantized opt = quantize(w, N, K, o);
            o.method = ENTQ_METHOD_ABSMAX;
            Quantized abs = quantize(w, N, K, o);
            CHECK(opt.status == ENTQ_QUANT_OK && abs.status == ENTQ_QUANT_OK);
            CHECKF(opt.rep.objective < abs.rep.objective, "kind %u lambda %g: %g vs absmax %g", kind, lambda, opt.rep.objective, abs.rep.objective);
            uint64_t bytes = encodedBytes(N, K, kind, opt.codes, opt.scales, opt.rep.scale_base);
            CHECK(bytes > 0);
            CHECKF(bytes <= prev, "kind %u lambda %g: %llu bytes > %llu at the lower lambda", kind, lambda, (unsigned long long)bytes, (unsigned long long)prev);
            CHECKF(std::fabs((double)bytes - opt.rep.est_bytes) <= 4.0 + 0.002 * bytes, "estimate %.1f vs encoded %llu", opt.rep.est_bytes, (unsigned long long)bytes);
            prev = bytes;
        }
    }
}

// On a tensor large enough for tables of more than 12 bits to pay off, the
// estimate must still price what the encoder writes (it chooses at most 12).
TEST(quant_size_estimate_matches_encoder_on_large_tensor) {
    const uint32_t N = 1024, K = 4096;
    std::vector<float> w = heavyTailed(N, K, 5);
    for (double lambda : {3.9, 28.6}) {
        entq_quant_opts o;
        o.lambda = lambda;
        Quantized q = quantize(w, N, K, o);
        CHECK(q.status == ENTQ_QUANT_OK);
        uint64_t bytes = encodedBytes(N, K, o.code_kind, q.codes, q.scales, q.rep.scale_base);
        CHECKF(std::fabs((double)bytes - q.rep.est_bytes) <= 0.0005 * bytes, "lambda %g: estimate %.1f vs encoded %llu", lambda, q.rep.est_bytes,
               (unsigned long long)bytes);
    }
}

TEST(quant_target_rate_within_005) {
    struct Shape { uint32_t N, K; };
    for (Shape sh : {Shape{64, 64}, Shape{172, 64}, Shape{300, 700}, Shape{1024, 2304}}) {
        std::vector<float> w = heavyTailed(sh.N, sh.K, sh.N * 31 + sh.K);
        for (uint32_t kind : {ENTQ_CODES_E4M3, ENTQ_CODES_INT8}) {
            for (uint32_t method : {(uint32_t)ENTQ_METHOD_L1, (uint32_t)ENTQ_METHOD_ECQ}) {
                if (method == ENTQ_METHOD_ECQ && sh.N * sh.K > 300000) continue;  // ECQ's search is slower; smaller shapes cover it
                for (double target : {2.0, 3.0, 4.25}) {
                    entq_quant_opts o;
                    o.code_kind = kind;
                    o.method = method;
                    o.target_bits = target;
                    Quantized q = quantize(w, sh.N, sh.K, o);
                    CHECKF(q.status == ENTQ_QUANT_OK, "%s", q.error.c_str());
                    double bits = encodedBytes(sh.N, sh.K, kind, q.codes, q.scales, q.rep.scale_base) * 8.0 / ((double)sh.N * sh.K);
                    CHECKF(std::fabs(bits - target) <= 0.05, "%ux%u kind %u method %u: target %g got %.4f (lambda %g)", sh.N, sh.K, kind,
                           method, target, bits, q.rep.lambda);
                }
            }
        }
    }
}

TEST(quant_target_rate_unreachable_is_an_error) {
    std::vector<float> w = heavyTailed(16, 16, 5);
    entq_quant_opts o;
    o.target_bits = 0.5;  // 16 bits of scale per 16 weights alone cost 1 bit/weight
    Quantized q = quantize(w, 16, 16, o);
    CHECK(q.status == ENTQ_QUANT_ERR_TARGET && q.error.find("below") != std::string::npos);
    o.target_bits = 20;
    q = quantize(w, 16, 16, o);
    CHECKF(q.status == ENTQ_QUANT_ERR_TARGET && q.error.find("above") != std::string::npos, "status %d: %s bits %g", q.status, q.error.c_str(), q.rep.bits_per_weight);
}

TEST(quant_fallback_on_super_weight) {
    const uint32_t N = 64, K = 256;
    std::vector<float> w = heavyTailed(N, K, 9);
    entq_quant_opts o;
    Quantized plain = quantize(w, N, K, o);
    CHECK(plain.status == ENTQ_QUANT_OK && !plain.rep.fell_back && plain.rep.method == ENTQ_METHOD_L1);
    CHECKF(plain.rep.outlier_gap < ENTQ_FALLBACK_GAP, "gap %g", plain.rep.outlier_gap);
    float mx = 0;
    for (float v : w) mx = std::max(mx, std::fabs(v));
    w[(size_t)17 * K + 100] = -40 * mx;  // a planted super weight
    Quantized sw = quantize(w, N, K, o);
    CHECK(sw.status == ENTQ_QUANT_OK && sw.rep.fell_back && sw.rep.method == ENTQ_METHOD_ABSMAX && sw.rep.outlier_gap >= 40);
    float s = entq_scale_value(sw.rep.scale_base, sw.scales[17]);
    CHECK(std::fabs(entq_e4m3_to_f32(sw.codes[(size_t)17 * K + 100]) * s + 40 * mx) <= 0.0625 * 40 * mx);
    o.fallback_gap = 0;  // disabled
    Quantized off = quantize(w, N, K, o);
    CHECK(off.status == ENTQ_QUANT_OK && !off.rep.fell_back);
}

TEST(quant_bad_input_errors) {
    std::vector<float> w = heavyTailed(4, 8, 1);
    w[13] = NAN;
    Quantized q = quantize(w, 4, 8, entq_quant_opts());
    CHECK(q.status == ENTQ_QUANT_ERR_NONFINITE && q.error.find("row 1, column 5") != std::string::npos);
    w[13] = 1;
    entq_quant_opts o;
    o.lambda = -1;
    CHECK(quantize(w, 4, 8, o).status == ENTQ_QUANT_ERR_ARG);
    o = entq_quant_opts();
    o.code_kind = ENTQ_CODES_CUSTOM;
    CHECK(quantize(w, 4, 8, o).status == ENTQ_QUANT_ERR_ARG);
    CHECK(quantize(w, 0, 8, entq_quant_opts()).status == ENTQ_QUANT_ERR_ARG);
    w[2] = 3e38f;  // amax / 2^-10 overflows: no finite scale (absmax would fit: no fallback here)
    o = entq_quant_opts();
    o.fallback_gap = 0;
    q = quantize(w, 4, 8, o);
    CHECK(q.status == ENTQ_QUANT_ERR_ARG && q.error.find("too large") != std::string::npos);
    // rows far below the tensor's largest still get positive, finite scales
    std::vector<float> tiny = heavyTailed(4, 8, 2);
    for (int k = 0; k < 8; k++) tiny[k] *= 1e-30f;
    o = entq_quant_opts();
    o.method = ENTQ_METHOD_ABSMAX;
    Quantized a = quantize(tiny, 4, 8, o);
    CHECK(a.status == ENTQ_QUANT_OK && a.scales[0] > 0);
    for (int k = 0; k < 8; k++) CHECK((a.codes[k] & 0x7f) != 0x7f);
}

TEST(quant_zero_rows_and_threads_agree) {
    const uint32_t N = 70, K = 33;
    std::vector<float> w = heavyTailed(N, K, 4);
    std::fill(w.begin() + 5 * K, w.begin() + 6 * K, 0.0f);  // an all-zero row
    entq_quant_opts o;
    o.n_threads = 1;
    Quantized one = quantize(w, N, K, o);
    o.n_threads = 3;
    Quantized three = quantize(w, N, K, o);
    CHECK(one.status == ENTQ_QUANT_OK && three.status == ENTQ_QUANT_OK);
    CHECK(one.codes == three.codes && one.scales == three.scales);
    CHECK(one.scales[5] == 0);
    for (uint32_t k = 0; k < K; k++) CHECK(one.codes[5 * K + k] == 0);
    std::vector<float> zeros((size_t)N * K, 0.0f);
    Quantized z = quantize(zeros, N, K, o);
    CHECK(z.status == ENTQ_QUANT_OK && z.rep.objective == 0 && encodedBytes(N, K, o.code_kind, z.codes, z.scales, z.rep.scale_base) > 0);
}

// A rate sample predicts the bits/weight a fixed-lambda run produces: exactly
// when it holds every row, closely from a quarter of them; several samples
// evaluated together give each its own prediction.
TEST(quant_rate_sample_predicts_fixed_lambda_size) {
    struct Shape { uint32_t N, K, rows; double tol; };
    const Shape shapes[] = {{96, 200, 96, 1e-9}, {1024, 4096, 256, 0.03}, {300, 64, 300, 1e-9}};
    std::vector<std::vector<float>> ws;
    std::vector<entq_rate_sample> samples(3);
    std::vector<const entq_rate_sample *> ptrs;
    for (int i = 0; i < 3; i++) {
        const Shape &sh = shapes[i];
        ws.push_back(heavyTailed(sh.N, sh.K, sh.N + 7));
        entq_quant_opts o;
        o.n_threads = 2;
        std::string err;
        CHECK(entq_rate_sample_make(ws[i].data(), sh.N, sh.K, o, sh.rows, samples[i], err) == ENTQ_QUANT_OK);
        CHECK(samples[i].n_rows == sh.rows && !samples[i].fell_back);
        ptrs.push_back(&samples[i]);
    }
    double prev[3] = {INFINITY, INFINITY, INFINITY};
    for (double lambda : {1.0, 3.9, 14.5, 58.0}) {
        double bits[3], one;
        entq_rate_samples_bits(ptrs.data(), 3, lambda, 3, bits);
        entq_rate_samples_bits(ptrs.data() + 1, 1, lambda, 1, &one);
        CHECK(one == bits[1]);  // threads and neighbours do not change a prediction
        for (int i = 0; i < 3; i++) {
            CHECK(bits[i] < prev[i]);
            prev[i] = bits[i];
            entq_quant_opts o;
            o.lambda = lambda;
            Quantized q = quantize(ws[i], shapes[i].N, shapes[i].K, o);
            CHECKF(std::fabs(q.rep.bits_per_weight - bits[i]) <= shapes[i].tol, "%ux%u lambda %g: sample %.4f, run %.4f", shapes[i].N,
                   shapes[i].K, lambda, bits[i], q.rep.bits_per_weight);
        }
    }
    // the model's lambda meets the target on the weighted mean of the predictions
    entq_model_lambda_result r = entq_model_lambda(ptrs.data(), 3, 2.75, 0.002, 2, {});
    CHECK(r.search.status == ENTQ_LAMBDA_OK && r.tensor_bits.size() == 3);
    double sum = 0, n = 0;
    for (int i = 0; i < 3; i++) sum += r.tensor_bits[i] * (double)samples[i].weights(), n += (double)samples[i].weights();
    CHECKF(std::fabs(sum / n - r.search.bits) < 1e-12 && std::fabs(r.search.bits - 2.75) <= 0.002, "model %.4f", r.search.bits);
    CHECK(entq_model_lambda(ptrs.data(), 3, 9.5, 0.002, 2, {}).search.status == ENTQ_LAMBDA_TOO_HIGH);
    CHECK(entq_model_lambda(ptrs.data(), 3, 0.01, 0.002, 2, {}).search.status == ENTQ_LAMBDA_TOO_LOW);

    std::vector<float> w = heavyTailed(8, 8, 1);
    entq_quant_opts o;
    o.method = ENTQ_METHOD_ECQ;
    entq_rate_sample s;
    std::string err;
    CHECK(entq_rate_sample_make(w.data(), 8, 8, o, 4, s, err) == ENTQ_QUANT_ERR_ARG && !err.empty());
}
