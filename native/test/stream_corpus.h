// The codec's test corpus: seeded 8-bit code tensors of known shapes and
// distributions, shared by the stream tests and the CUDA schedule harness.
#pragma once
#include <cmath>
#include <vector>

#include "stream/entq_encode.h"
#include "stream/entq_format.h"
#include "test.h"

enum class Dist { Uniform, Laplace, One, TwoRare, All256 };

// Signed magnitude index m (|m| <= 126) to a code byte of the kind. E4M3
// magnitude codes 0..126 increase with value; 0x7f/0xff (NaN) and -0 never occur.
inline uint8_t codeFromIndex(int m, uint32_t kind) {
    if (kind == ENTQ_CODES_E4M3) {
        int a = m < 0 ? -m : m;
        if (a > 126) a = 126;
        return (uint8_t)(a | (m < 0 && a ? 0x80 : 0));
    }
    if (m > 127) m = 127;
    if (m < -127) m = -127;
    return (uint8_t)(int8_t)m;
}

inline bool validCode(uint8_t c, uint32_t kind) { return kind != ENTQ_CODES_E4M3 || (c & 0x7f) != 0x7f; }

inline std::vector<uint8_t> makeCodes(uint64_t n, Dist d, uint32_t kind, uint64_t seed) {
    entq_test::Rng rng(seed);
    std::vector<uint8_t> c(n);
    auto laplace = [&](double b) {
        double u = rng.uniform() - 0.5;
        double v = -b * (u < 0 ? -1 : 1) * std::log(1 - 2 * std::fabs(u));
        return codeFromIndex((int)std::lround(v), kind);
    };
    uint8_t a = 0, b = 0;
    do a = (uint8_t)rng.below(256); while (!validCode(a, kind));
    do b = (uint8_t)rng.below(256); while (!validCode(b, kind) || b == a);
    for (uint64_t i = 0; i < n; i++) {
        switch (d) {
        case Dist::Uniform: do c[i] = (uint8_t)rng.below(256); while (!validCode(c[i], kind)); break;
        case Dist::Laplace: c[i] = laplace(3.0); break;
        case Dist::One: c[i] = a; break;
        case Dist::TwoRare: c[i] = rng.uniform() < 1.0 / 10001 ? b : a; break;
        case Dist::All256: c[i] = laplace(20.0); break;
        }
    }
    if (d == Dist::All256)  // every valid symbol at least once, where room allows
        for (uint64_t s = 0, i = 0; s < 256 && i < n; s++)
            if (validCode((uint8_t)s, kind)) c[(i++ * 7919) % n] = (uint8_t)s;
    return c;
}

// INT8 codes of a rounded Laplacian whose scale is set (by bisection on the
// exact entropy of the rounded distribution) to give about `bits` of entropy.
inline std::vector<uint8_t> makeCodesWithEntropy(uint64_t n, double bits, uint64_t seed) {
    auto cdf = [](double v, double s) { return v < 0 ? 0.5 * std::exp(v / s) : 1 - 0.5 * std::exp(-v / s); };
    auto entropy = [&](double s) {
        double h = 0;
        for (int k = -127; k <= 127; k++) {
            double lo = k == -127 ? -INFINITY : k - 0.5, hi = k == 127 ? INFINITY : k + 0.5;
            double p = (hi == INFINITY ? 1 : cdf(hi, s)) - (lo == -INFINITY ? 0 : cdf(lo, s));
            if (p > 0) h -= p * std::log2(p);
        }
        return h;
    };
    double lo = 0.01, hi = 100;
    for (int i = 0; i < 60; i++) {
        double mid = std::sqrt(lo * hi);
        (entropy(mid) < bits ? lo : hi) = mid;
    }
    entq_test::Rng rng(seed);
    std::vector<uint8_t> c(n);
    for (uint64_t i = 0; i < n; i++) {
        double u = rng.uniform() - 0.5;
        double v = -lo * (u < 0 ? -1 : 1) * std::log(1 - 2 * std::fabs(u));
        c[i] = codeFromIndex((int)std::lround(v), ENTQ_CODES_INT8);
    }
    return c;
}

// Encodes codes as one stream (row scales in [0.25, 1.25), seeded by the shape); empty on failure.
inline std::vector<uint8_t> encodeCodes(uint32_t K, uint32_t N, const std::vector<uint8_t> &codes, uint32_t kind,
                                        uint32_t segment_symbols = 0, uint32_t prob_bits = 0,
                                        const uint16_t *codebook = nullptr, uint32_t n_expert = 0) {
    std::vector<uint16_t> scales(N);
    entq_test::Rng rng(K * 31ull + N);
    for (auto &v : scales) v = entq_f32_to_f16((float)(0.25 + rng.uniform()));
    entq_params p = {kind, codebook, 0.5f, scales.data(), segment_symbols, prob_bits, n_expert};
    entq_plan_t plan;
    if (entq_plan(K, N, codes.data(), &p, &plan) != ENTQ_OK) return {};
    std::vector<uint32_t> buf((entq_encode_bound(&plan) + 3) / 4);  // 4-aligned
    uint64_t size = 0;
    if (entq_encode(&plan, codes.data(), reinterpret_cast<uint8_t *>(buf.data()), &size) != ENTQ_OK) return {};
    const uint8_t *b = reinterpret_cast<const uint8_t *>(buf.data());
    return std::vector<uint8_t>(b, b + size);
}
