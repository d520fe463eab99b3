// The batched half of the CPU kernel (native/cpu/entq_gemm_avx2.h): every
// tile shape and K tail against an f64 reference within f32's rounding bound,
// and nothing written outside the block's rows.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "cpu/entq_gemm_avx2.h"
#include "cpu/entq_gemm_avx512.h"
#include "cpu/entq_cpu_layout.h"
#include "test.h"

#if ENTQ_AVX2_DECODER

using entq_test::Rng;

using gemm_fn = void (*)(const float *, size_t, uint32_t, int64_t, const float * const *, float * const *, uint32_t, uint32_t);

// The tile products this CPU can run: AVX2, and AVX-512 where present.
std::vector<std::pair<const char *, gemm_fn>> gemms() {
    std::vector<std::pair<const char *, gemm_fn>> g;
    if (entq_avx2_available()) g.push_back({"avx2", entq_avx2_gemm});
    if (entq_avx512_available()) g.push_back({"avx512", entq_avx512_gemm});
    return g;
}

TEST(cpu_avx2_gemm_matches_f64_reference) {
  for (const auto & [name, gemm] : gemms()) {
    Rng rng(11);
    const float sentinel = -12345.0f;
    for (int64_t K : {1, 5, 8, 9, 31, 33, 100, 257, 512, 1031, 2048}) {
        for (uint32_t nrows = 1; nrows <= 9; nrows++) {
            for (uint32_t ncols = 1; ncols <= 7; ncols++) {
                const size_t ldr = (size_t) K + 3;  // rows of a block need not be packed
                std::vector<float> rows(nrows * ldr);
                for (auto & v : rows) v = (float) (rng.uniform() * 2 - 1);
                // each column its own allocation of exactly K floats, so a read past K is a heap overflow under ASan
                std::vector<std::vector<float>> xs(ncols, std::vector<float>(K));
                std::vector<std::vector<float>> ys(ncols, std::vector<float>(nrows + 4, sentinel));
                std::vector<const float *> x(ncols);
                std::vector<float *> y(ncols);
                for (uint32_t c = 0; c < ncols; c++) {
                    for (auto & v : xs[c]) v = (float) (rng.uniform() * 2 - 1);
                    x[c] = xs[c].data();
                    y[c] = ys[c].data();
                }
                const uint32_t y0 = 2;
                gemm(rows.data(), ldr, nrows, K, x.data(), y.data(), ncols, y0);
                for (uint32_t c = 0; c < ncols; c++) {
                    for (uint32_t r = 0; r < nrows + 4; r++) {
                        if (r < y0 || r >= y0 + nrows) {
                            CHECKF(ys[c][r] == sentinel, "%s K=%lld rows=%u cols=%u: wrote y[%u][%u]", name, (long long) K, nrows, ncols, c, r);
                            continue;
                        }
                        double ref = 0, mag = 0;
                        for (int64_t k = 0; k < K; k++) {
                            const double p = (double) rows[(r - y0) * ldr + k] * xs[c][k];
                            ref += p;
                            mag += std::fabs(p);
                        }
                        // 8 (16) lane sums of ceil(K / 8) FMAs each, then 3 (4) adds: at most K / 8 + 4 roundings deep
                        const double bound = (double) (K / 8 + 5) * 0x1p-24 * mag;
                        CHECKF(std::fabs(ys[c][r] - ref) <= bound, "%s K=%lld rows=%u cols=%u: y[%u][%u] = %.9g, reference %.9g",
                               name, (long long) K, nrows, ncols, c, r, ys[c][r], ref);
                    }
                }
            }
        }
    }
  }
}

TEST(cpu_gemm_bench) {
    // ENTQ_BENCH=1 (`npm run bench:cpu-gemm`; ENTQ_BENCH_K sets K): 1032 rows of K = 2048 in the kernel's 12-row
    // blocks against 512 activation columns (a prompt batch), one core; else a small size
    if (!entq_avx2_available()) return;
    const bool full = std::getenv("ENTQ_BENCH") != nullptr;
    const int64_t K = full ? (std::getenv("ENTQ_BENCH_K") ? std::atoll(std::getenv("ENTQ_BENCH_K")) : 2048) : 100;
    const uint32_t N = full ? 1032 : 24, block = ENTQ_LAYOUT_STREAMS;
    const uint32_t ncols = full ? (std::getenv("ENTQ_BENCH_COLS") ? (uint32_t) std::atoi(std::getenv("ENTQ_BENCH_COLS")) : 128) : 5;
    const int reps = full ? 5 : 1;
    Rng rng(5);
    std::vector<float> w((size_t) N * K), xs((size_t) ncols * K), ys((size_t) ncols * N);
    for (auto & v : w) v = (float) (rng.uniform() * 2 - 1);
    for (auto & v : xs) v = (float) (rng.uniform() * 2 - 1);
    std::vector<const float *> x(ncols);
    std::vector<float *> y(ncols);
    for (uint32_t c = 0; c < ncols; c++) {
        x[c] = xs.data() + (size_t) c * K;
        y[c] = ys.data() + (size_t) c * N;
    }
    for (const auto & [name, gemm] : gemms()) {
        std::vector<double> t;
        for (int rep = 0; rep < reps; rep++) {
            const auto t0 = std::chrono::steady_clock::now();
            for (uint32_t r = 0; r < N; r += block) gemm(w.data() + (size_t) r * K, (size_t) K, block, K, x.data(), y.data(), ncols, r);
            t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(t.begin(), t.end());
        double err = 0;  // one spot check keeps the work observable
        for (int64_t k = 0; k < K; k++) err += (double) w[(size_t) (N - 1) * K + k] * xs[(size_t) (ncols - 1) * K + k];
        CHECKF(std::fabs(ys[(size_t) (ncols - 1) * N + N - 1] - err) <= 1e-4 * (1 + std::fabs(err)), "spot check");
        std::printf("  %s: %u x %lld weight, %u columns, %u-row blocks, one core, median of %d: %.2f ms, %.1f GFLOP/s\n", name, N, (long long) K,
                    ncols, block, reps, t[t.size() / 2] * 1e3, 2.0 * N * K * ncols / t[t.size() / 2] / 1e9);
    }
}

#endif  // ENTQ_AVX2_DECODER

#include "cpu/entq_gemm_int16.h"

#if ENTQ_AVX2_DECODER
using int16_gemm_fn = void (*)(const int16_t *, size_t, uint32_t, uint32_t, entq_act16_cols, float * const *, uint32_t, uint32_t, const float *);

// The int16 products this CPU can run.
static std::vector<std::pair<const char *, int16_gemm_fn>> int16_gemms() {
    std::vector<std::pair<const char *, int16_gemm_fn>> g = {{"plain C", entq_int16_gemm_ref}};
    if (entq_avx2_available()) g.push_back({"avx2 madd", entq_int16::gemm_avx2});
    if (entq_vnni256_available()) g.push_back({"avx-vnni", entq_int16::gemm_vnni256});
    if (entq_vnni512_available()) g.push_back({"avx512-vnni", entq_int16::gemm_vnni512});
    return g;
}

// Levels times int16 activations: exactly the f64 sums over the quantised activations up to f32 rounding
// of the per-block totals, and within 2^-16 of each block's largest activation of the unquantised ones.
TEST(cpu_int16_gemm_matches_quantised_reference) {
    Rng rng(17);
    const float sentinel = -12345.0f;
    for (const auto & [name, gemm] : int16_gemms())
        for (uint32_t K : {1u, 31u, 32u, 33u, 1000u, 1024u, 1025u, 3000u})
            for (uint32_t nrows : {1u, 2u, 3u, 4u, 5u, 12u})
                for (uint32_t ncols : {1u, 2u, 3u, 4u, 7u}) {
                    const uint32_t Kp = entq_act16_len(K), nb = entq_act16_blocks(K);
                    std::vector<int16_t> rows((size_t) nrows * Kp);
                    for (auto & v : rows) v = (int16_t) ((int) rng.below(255) - 127);
                    std::vector<float> xs((size_t) ncols * K), ds((size_t) ncols * nb), scale(nrows);
                    std::vector<int16_t> qs((size_t) ncols * Kp);
                    std::vector<const int16_t *> q(ncols);
                    std::vector<const float *> d(ncols);
                    std::vector<std::vector<float>> ys(ncols, std::vector<float>(nrows + 4, sentinel));
                    std::vector<float *> y(ncols);
                    for (auto & v : xs) v = (float) ((rng.uniform() * 2 - 1) * (rng.uniform() < 0.02 ? 30 : 1));
                    for (auto & v : scale) v = (float) (0.01 + rng.uniform());
                    for (uint32_t c = 0; c < ncols; c++) {
                        entq_act16_quantize(xs.data() + (size_t) c * K, K, qs.data() + (size_t) c * Kp, ds.data() + (size_t) c * nb);
                        q[c] = qs.data() + (size_t) c * Kp;
                        d[c] = ds.data() + (size_t) c * nb;
                        y[c] = ys[c].data();
                    }
                    gemm(rows.data(), Kp, nrows, K, {q.data(), d.data()}, y.data(), ncols, 2, scale.data());
                    for (uint32_t c = 0; c < ncols; c++)
                        for (uint32_t r = 0; r < nrows + 4; r++) {
                            if (r < 2 || r >= 2 + nrows) {
                                CHECKF(ys[c][r] == sentinel, "%s: wrote y[%u][%u]", name, c, r);
                                continue;
                            }
                            double ref_q = 0, ref = 0, mag = 0, act = 0;
                            for (uint32_t k = 0; k < K; k++) {
                                const double w = rows[(size_t) (r - 2) * Kp + k], x = xs[(size_t) c * K + k];
                                const double xq = (double) q[c][k] * d[c][k / ENTQ_ACT16_BLOCK];
                                ref_q += w * xq;
                                ref += w * x;
                                mag += std::fabs(w * xq);
                                act += std::fabs(w) * (double) d[c][k / ENTQ_ACT16_BLOCK] * 32767 / 65534;
                            }
                            ref_q *= scale[r - 2];
                            ref *= scale[r - 2];
                            const double f32 = (nb + 8) * 0x1p-24 * mag * scale[r - 2] * 2;
                            CHECKF(std::fabs(ys[c][r] - ref_q) <= f32, "%s K=%u rows=%u cols=%u: %g vs %g (quantised)", name, K, nrows, ncols,
                                   (double) ys[c][r], ref_q);
                            CHECKF(std::fabs(ys[c][r] - ref) <= f32 + act * scale[r - 2] * 1.001, "%s K=%u: %g vs %g", name, K, (double) ys[c][r], ref);
                        }
                }
}

TEST(cpu_int16_gemm_bench) {
    // ENTQ_BENCH=1 (`npm run bench:cpu-gemm`): the kernel's batched path on 1032 rows of K = 2048 (ENTQ_BENCH_K)
    // against 128 columns (ENTQ_BENCH_COLS), 12-row rounds, one core; else a small size
    const bool full = std::getenv("ENTQ_BENCH") != nullptr;
    const uint32_t K = full ? (std::getenv("ENTQ_BENCH_K") ? (uint32_t) std::atoi(std::getenv("ENTQ_BENCH_K")) : 2048) : 100;
    const uint32_t N = full ? 1032 : 24, block = ENTQ_LAYOUT_STREAMS;
    const uint32_t ncols = full ? (std::getenv("ENTQ_BENCH_COLS") ? (uint32_t) std::atoi(std::getenv("ENTQ_BENCH_COLS")) : 128) : 5;
    const int reps = full ? 5 : 1;
    const uint32_t Kp = entq_act16_len(K), nb = entq_act16_blocks(K);
    Rng rng(5);
    std::vector<int16_t> rows((size_t) N * Kp), qs((size_t) ncols * Kp);
    std::vector<float> ds((size_t) ncols * nb, 1.0f / 32767), ys((size_t) ncols * N), scale(N, 1.0f);
    for (auto & v : rows) v = (int16_t) ((int) rng.below(15) - 7);
    for (auto & v : qs) v = (int16_t) ((int) rng.below(65535) - 32767);
    std::vector<const int16_t *> q(ncols);
    std::vector<const float *> d(ncols);
    std::vector<float *> y(ncols);
    for (uint32_t c = 0; c < ncols; c++) {
        q[c] = qs.data() + (size_t) c * Kp;
        d[c] = ds.data() + (size_t) c * nb;
        y[c] = ys.data() + (size_t) c * N;
    }
    for (const auto & [name, gemm] : int16_gemms()) {
        std::vector<double> t;
        for (int rep = 0; rep < reps; rep++) {
            const auto t0 = std::chrono::steady_clock::now();
            for (uint32_t r = 0; r < N; r += block) gemm(rows.data() + (size_t) r * Kp, Kp, block, K, {q.data(), d.data()}, y.data(), ncols, r, scale.data());
            t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        std::sort(t.begin(), t.end());
        std::printf("  int16 %s: %u x %u weight, %u columns, %u-row blocks, one core, median of %d: %.2f ms, %.1f G multiply-adds/s\n", name, N,
                    K, ncols, block, reps, t[t.size() / 2] * 1e3, 1.0 * N * K * ncols / t[t.size() / 2] / 1e9);
    }
}
#endif
