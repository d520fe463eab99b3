// Codec benchmark, native: the reference encoder and decoder on one core for
// a 4096 x 4096 tensor of INT8 codes with ~2.5 bits of entropy (rounded
// Laplace, the test corpus's generator), and coded size against entropy.
// Usage: entgguf_bench_codec [bits=2.5] [K=4096] [N=4096] [reps=7]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "stream/entq_decode.h"
#include "stream/entq_encode.h"
#include "../test/stream_corpus.h"

static double seconds() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int main(int argc, char **argv) {
    double bits = argc > 1 ? std::atof(argv[1]) : 2.5;
    uint32_t K = argc > 2 ? (uint32_t)std::atoi(argv[2]) : 4096, N = argc > 3 ? (uint32_t)std::atoi(argv[3]) : 4096;
    int reps = argc > 4 ? std::atoi(argv[4]) : 7;
    const uint64_t n = (uint64_t)K * N;
    std::vector<uint8_t> codes = makeCodesWithEntropy(n, bits, 1);
    std::vector<uint16_t> scales(N, entq_f32_to_f16(1.0f));
    entq_params p = {ENTQ_CODES_INT8, nullptr, 1.0f, scales.data(), 0, 0};

    std::vector<double> tenc, tdec, tcrc;
    entq_plan_t plan;
    std::vector<uint32_t> buf;
    uint64_t size = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = seconds();
        if (entq_plan(K, N, codes.data(), &p, &plan) != ENTQ_OK) return 1;
        buf.assign(entq_encode_bound(&plan) / 4 + 1, 0);
        double t1 = seconds();  // allocation excluded
        entq_encode(&plan, codes.data(), reinterpret_cast<uint8_t *>(buf.data()), &size);
        tenc.push_back(seconds() - t1 + (t1 - t0));
    }
    const uint8_t *s = reinterpret_cast<const uint8_t *>(buf.data());
    entq_info in;
    if (entq_parse(s, size, &in) != ENTQ_OK) return 1;
    auto table = std::make_unique<entq_dtable>();
    entq_build_dtable(&in, s, table.get());
    std::vector<uint8_t> out(n);
    for (int r = 0; r < reps; r++) {
        double t0 = seconds();
        int st = entq_decode_codes(&in, s, table.get(), 0, in.n_seg, out.data());
        double t1 = seconds();
        int crc = entq_check_crc(s, size);
        tcrc.push_back(seconds() - t1);
        tdec.push_back(t1 - t0);
        if (st != ENTQ_OK || crc != ENTQ_OK || out != codes) {
            std::printf("round trip FAILED\n");
            return 1;
        }
    }
    double H = entq_entropy_bits(plan.counts);
    double fixed = (double)plan.head_bytes + plan.n_seg * (double)ENTQ_SEGMENT_STATE_BYTES;
    std::printf("tensor %u x %u INT8 codes, entropy %.3f bits/code, %u symbols, prob_bits %u, %u segments\n", K, N, H,
                plan.n_sym, plan.prob_bits, plan.n_seg);
    std::printf("coded %llu bytes = %.4f bits/code; size / (entropy x count) = %.5f; size / (entropy x count + fixed %.0f B) = %.5f\n",
                (unsigned long long)size, size * 8.0 / n, size / (H * n / 8), fixed, size / (H * n / 8 + fixed));
    std::printf("encode (plan + code) %.1f M symbols/s, decode %.1f M symbols/s, checksum %.2f GB/s (one core, median of %d)\n",
                n / median(tenc) / 1e6, n / median(tdec) / 1e6, size / median(tcrc) / 1e9, reps);
    return 0;
}
