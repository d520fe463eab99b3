// The batched half of the CPU kernel (native/cpu/entq_gemm_avx2.h): every
// tile shape and K tail against an f64 reference within f32's rounding bound,
// and nothing written outside the block's rows.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "cpu/entq_gemm_avx2.h"
#include "test.h"

#if ENTQ_AVX2_DECODER

using entq_test::Rng;

TEST(cpu_avx2_gemm_matches_f64_reference) {
    if (!entq_avx2_available()) return;
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
                entq_avx2_gemm(rows.data(), ldr, nrows, K, x.data(), y.data(), ncols, y0);
                for (uint32_t c = 0; c < ncols; c++) {
                    for (uint32_t r = 0; r < nrows + 4; r++) {
                        if (r < y0 || r >= y0 + nrows) {
                            CHECKF(ys[c][r] == sentinel, "K=%lld rows=%u cols=%u: wrote y[%u][%u]", (long long) K, nrows, ncols, c, r);
                            continue;
                        }
                        double ref = 0, mag = 0;
                        for (int64_t k = 0; k < K; k++) {
                            const double p = (double) rows[(r - y0) * ldr + k] * xs[c][k];
                            ref += p;
                            mag += std::fabs(p);
                        }
                        // 8 lane sums of ceil(K / 8) FMAs each, then 3 adds: at most K / 8 + 4 roundings deep
                        const double bound = (double) (K / 8 + 5) * 0x1p-24 * mag;
                        CHECKF(std::fabs(ys[c][r] - ref) <= bound, "K=%lld rows=%u cols=%u: y[%u][%u] = %.9g, reference %.9g",
                               (long long) K, nrows, ncols, c, r, ys[c][r], ref);
                    }
                }
            }
        }
    }
}

TEST(cpu_gemm_bench) {
    // ENTQ_BENCH=1 (`npm run bench:cpu-gemm`; ENTQ_BENCH_K sets K): 1024 rows of K = 2048 in the kernel's 8-row
    // blocks against 512 activation columns (a prompt batch), one core; else a small size
    if (!entq_avx2_available()) return;
    const bool full = std::getenv("ENTQ_BENCH") != nullptr;
    const int64_t K = full ? (std::getenv("ENTQ_BENCH_K") ? std::atoll(std::getenv("ENTQ_BENCH_K")) : 2048) : 100;
    const uint32_t N = full ? 1024 : 16, ncols = full ? 512 : 5, block = 8;
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
    std::vector<double> t;
    for (int rep = 0; rep < reps; rep++) {
        const auto t0 = std::chrono::steady_clock::now();
        for (uint32_t r = 0; r < N; r += block) entq_avx2_gemm(w.data() + (size_t) r * K, (size_t) K, block, K, x.data(), y.data(), ncols, r);
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    double err = 0;  // one spot check keeps the work observable
    for (int64_t k = 0; k < K; k++) err += (double) w[(size_t) (N - 1) * K + k] * xs[(size_t) (ncols - 1) * K + k];
    CHECKF(std::fabs(ys[(size_t) (ncols - 1) * N + N - 1] - err) <= 1e-4 * (1 + std::fabs(err)), "spot check");
    std::printf("  %u x %lld weight, %u columns, 8-row blocks, one core, median of %d: %.2f ms, %.1f GFLOP/s\n", N, (long long) K, ncols,
                reps, t[t.size() / 2] * 1e3, 2.0 * N * K * ncols / t[t.size() / 2] / 1e9);
}

#endif  // ENTQ_AVX2_DECODER
