// The CUDA kernels' lane schedule, run by its CPU twin (native/cuda/entq_lane.h
// with entq_warp_cpu: the same source the kernels run, 32 lanes per call, the
// ballot, shuffles and word ring emulated in the warp's order), checked
// against the reference decoder on the codec's corpus: codes bit-exact per
// segment, corrupt segments failing where the reference fails (with the same
// garbage symbols, since reads past a segment are clamped the same way),
// GEMV sums against entq_decode_dot, and f16 codebook rows exact.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "cuda/entq_lane_sinks.h"
#include "stream/entq_decode.h"
#include "stream/entq_encode.h"
#include "stream_corpus.h"
#include "test.h"

using entq_test::Rng;

namespace {

typedef entq_warp_cpu CpuWarp;

// A parsed stream in 4-aligned storage (the kernels load u32 states and word pairs).
struct Stream {
    std::vector<uint32_t> store;
    uint64_t size = 0;
    entq_info in;
    std::vector<entq_lane_slot> slots;
    std::vector<uint8_t> sym;
    entq_lane_table table() const { return entq_lane_table{slots.data()}; }
    const uint8_t *bytes() const { return reinterpret_cast<const uint8_t *>(store.data()); }
    uint8_t *bytes() { return reinterpret_cast<uint8_t *>(store.data()); }
};

int encodeStream(uint32_t K, uint32_t N, const std::vector<uint8_t> &codes, uint32_t kind, uint32_t segment_symbols,
                 uint32_t prob_bits, Stream &s, const std::vector<uint16_t> *scales = nullptr) {
    std::vector<uint16_t> unit(N, entq_f32_to_f16(1.0f));
    entq_params p = {kind, nullptr, 0.25f, scales ? scales->data() : unit.data(), segment_symbols, prob_bits};
    entq_plan_t plan;
    int st = entq_plan(K, N, codes.data(), &p, &plan);
    if (st != ENTQ_OK) return st;
    s.store.assign((entq_encode_bound(&plan) + 3) / 4, 0);
    st = entq_encode(&plan, codes.data(), s.bytes(), &s.size);
    if (st != ENTQ_OK) return st;
    s.store.resize((s.size + 3) / 4);  // exactly the stream: a read past it is a sanitizer error
    s.store.shrink_to_fit();
    st = entq_parse(s.bytes(), s.size, &s.in);
    if (st != ENTQ_OK) return st;
    s.slots.assign((size_t)1 << s.in.prob_bits, entq_lane_slot{0, 0});
    s.sym.assign((size_t)1 << s.in.prob_bits, 0);
    entq_lane_build_table(&s.in, s.bytes(), s.slots.data(), s.sym.data());
    return ENTQ_OK;
}

uint32_t segRows(const entq_info &in, uint32_t seg) { return entq_segment_rows(&in, seg); }

// One segment through the twin with the sink make(first_row) returns.
template <class MakeSink> int twinSegment(const Stream &s, uint32_t seg, MakeSink make) {
    uint64_t start, end;
    entq_segment_range(&s.in, s.bytes(), seg, &start, &end);
    uint16_t ring[ENTQ_RING_ALLOC_WORDS];
    entq_lane_dec<CpuWarp> d;
    d.init(s.bytes() + start, (uint32_t)(end - start), ring);
    auto sink = make(seg * s.in.rows_per_seg);
    return entq_lane_walk(d, s.table(), s.in.prob_bits, s.in.K, segRows(s.in, seg), sink);
}

// Per segment: the reference's codes and status against the twin's. Returns
// the number of segments that failed (in both), or -1 on any disagreement.
int compareCodes(const Stream &s, const char *what) {
    auto t = std::make_unique<entq_dtable>();
    entq_build_dtable(&s.in, s.bytes(), t.get());
    int failed = 0;
    for (uint32_t seg = 0; seg < s.in.n_seg; seg++) {
        const uint64_t count = (uint64_t)segRows(s.in, seg) * s.in.K;
        std::vector<uint8_t> ref(count), twin(count, 0xAB);
        entq_decoder d;
        entq_dec_init(&s.in, s.bytes(), seg, &d);
        entq_dec_run(t.get(), &d, count, ref.data());
        const int ref_st = entq_dec_finish(&d);
        auto sink = [&](uint32_t) { return entq_sink_codes<CpuWarp>(s.sym.data(), twin.data(), s.in.K); };
        const int twin_st = twinSegment(s, seg, sink);
        if (ref_st != twin_st || ref != twin) {
            std::fprintf(stderr, "  %s: segment %u: reference status %d, twin %d, codes %s\n", what, seg, ref_st, twin_st,
                         ref == twin ? "equal" : "differ");
            return -1;
        }
        failed += ref_st != ENTQ_OK;
    }
    return failed;
}

// y = W x through the twin's GEMV sink for B columns (x column-major, ld K).
template <int B> int twinGemv(const Stream &s, const std::vector<float> &x, std::vector<float> &y) {
    const uint32_t K = s.in.K, N = s.in.N;
    y.assign((size_t)N * B, NAN);
    for (uint32_t seg = 0; seg < s.in.n_seg; seg++) {
        int st = twinSegment(s, seg, [&](uint32_t r0) {
            const uint16_t *scales = reinterpret_cast<const uint16_t *>(s.bytes() + s.in.scales_off) + r0;
            return entq_sink_gemv<CpuWarp, B>(x.data(), K, y.data() + r0, N, scales, s.in.scale_base);
        });
        if (st != ENTQ_OK) return st;
    }
    return ENTQ_OK;
}

// NMSE of the twin's B-column GEMV against an f64 product of the reference's
// dequantised weights (exact in f32: a codebook value times a row scale).
template <int B> double gemvNmse(const Stream &s, Rng &rng) {
    const uint32_t K = s.in.K, N = s.in.N;
    std::vector<float> x((size_t)K * B), y;
    for (auto &v : x) v = (float)(rng.uniform() * 2 - 1);
    if (twinGemv<B>(s, x, y) != ENTQ_OK) return INFINITY;
    auto t = std::make_unique<entq_dtable>();
    entq_build_dtable(&s.in, s.bytes(), t.get());
    std::vector<float> w((size_t)N * K);
    std::vector<uint8_t> row(K);
    if (entq_decode_dequantize(&s.in, s.bytes(), t.get(), 0, s.in.n_seg, w.data(), row.data()) != ENTQ_OK)
        return INFINITY;
    double err = 0, norm = 0;
    for (int c = 0; c < B; c++)
        for (uint32_t r = 0; r < N; r++) {
            double ref = 0;
            for (uint32_t k = 0; k < K; k++) ref += (double)w[(size_t)r * K + k] * x[(size_t)c * K + k];
            const double d = (double)y[(size_t)c * N + r] - ref;
            err += d * d;
            norm += ref * ref;
        }
    return norm > 0 ? err / norm : err;
}

// {K, N} pairs with element counts {1, 2, 31, 32, 33, 4095, 4096, 4097, >= 65536}
// and rows shorter than, equal to and just past a step of 32.
const uint32_t kShapes[][2] = {{1, 1},   {2, 1},     {1, 2},    {31, 1},  {1, 31},   {32, 1},  {33, 1},
                               {3, 11},  {4095, 1},  {1, 4095}, {45, 91}, {64, 64},  {4096, 1}, {1, 4097},
                               {17, 241}, {256, 256}, {4097, 17}, {33, 2000}, {31, 3}, {5, 7}};

}  // namespace

TEST(cuda_lane_twin_decodes_the_corpus_bit_exact) {
    const Dist dists[] = {Dist::Uniform, Dist::Laplace, Dist::One, Dist::TwoRare, Dist::All256};
    uint64_t seed = 100;
    int cases = 0;
    for (auto &sh : kShapes)
        for (Dist d : dists)
            for (uint32_t kind : {ENTQ_CODES_INT8, ENTQ_CODES_E4M3}) {
                std::vector<uint8_t> codes = makeCodes((uint64_t)sh[0] * sh[1], d, kind, seed++);
                for (uint32_t seg : {0u, 1u, 100u, 4096u}) {
                    Stream s;
                    CHECK(encodeStream(sh[0], sh[1], codes, kind, seg, 0, s) == ENTQ_OK);
                    CHECKF(compareCodes(s, "corpus") == 0, "K=%u N=%u dist=%d kind=%u seg=%u", sh[0], sh[1], (int)d,
                           kind, seg);
                    cases++;
                }
            }
    CHECK(cases == 20 * 5 * 2 * 4);
}

TEST(cuda_lane_twin_every_prob_bits_and_large_segments) {
    // 2^16+ symbols in one segment, and every table precision the format allows
    std::vector<uint8_t> codes = makeCodesWithEntropy(300 * 300, 2.5, 5);
    for (uint32_t pb = ENTQ_MIN_PROB_BITS; pb <= ENTQ_MAX_PROB_BITS; pb++) {
        Stream s;
        CHECK(encodeStream(300, 300, codes, ENTQ_CODES_INT8, 1u << 20, pb, s) == ENTQ_OK);
        CHECK(s.in.n_seg == 1 && s.in.prob_bits == pb);
        CHECKF(compareCodes(s, "prob_bits") == 0, "prob_bits=%u", pb);
    }
    for (uint32_t seg : {4096u, 16384u, 65536u}) {
        Stream s;
        std::vector<uint8_t> big = makeCodesWithEntropy(4096 * 40, 2.5, seg);
        CHECK(encodeStream(4096, 40, big, ENTQ_CODES_INT8, seg, 0, s) == ENTQ_OK);
        CHECKF(compareCodes(s, "4096x40") == 0, "segment_symbols=%u", seg);
    }
}

TEST(cuda_lane_twin_fails_corrupt_segments_like_the_reference) {
    // flipped payload bytes: every segment must end with the reference's status
    // and symbols; most corruptions must be caught (no CRC involved here)
    Rng rng(77);
    int caught = 0, trials = 0;
    for (Dist d : {Dist::Laplace, Dist::Uniform, Dist::TwoRare, Dist::One}) {
        std::vector<uint8_t> codes = makeCodes(700 * 13, d, ENTQ_CODES_E4M3, 3 + (int)d);
        Stream clean;
        CHECK(encodeStream(700, 13, codes, ENTQ_CODES_E4M3, 1500, 0, clean) == ENTQ_OK);
        const uint64_t p0 = clean.in.payload_off;
        for (int trial = 0; trial < 60; trial++) {
            Stream s = clean;
            const uint64_t at = p0 + rng.below((uint32_t)(s.size - p0));
            s.bytes()[at] ^= (uint8_t)(1u + rng.below(255));
            const int failed = compareCodes(s, "corrupt");
            CHECKF(failed >= 0, "dist=%d byte %llu", (int)d, (unsigned long long)at);
            caught += failed > 0;
            trials++;
        }
    }
    CHECKF(caught * 10 >= trials * 9, "caught %d of %d", caught, trials);
}

TEST(cuda_lane_twin_gemv_matches_f64) {
    Rng rng(9);
    for (auto &sh : kShapes) {
        for (uint32_t kind : {ENTQ_CODES_INT8, ENTQ_CODES_E4M3}) {
            const uint32_t K = sh[0], N = sh[1];
            std::vector<uint8_t> codes = makeCodes((uint64_t)K * N, Dist::Laplace, kind, K * 31 + N);
            std::vector<uint16_t> scales(N);
            for (auto &v : scales) v = entq_f32_to_f16((float)(0.01 + rng.uniform()));
            for (uint32_t seg : {0u, 1u, 100u}) {
                Stream s;
                CHECK(encodeStream(K, N, codes, kind, seg, 0, s, &scales) == ENTQ_OK);
                double e1 = gemvNmse<1>(s, rng), e2 = gemvNmse<2>(s, rng), e3 = gemvNmse<3>(s, rng),
                       e8 = gemvNmse<8>(s, rng);
                CHECKF(e1 < 1e-10 && e2 < 1e-10 && e3 < 1e-10 && e8 < 1e-10,
                       "K=%u N=%u kind=%u seg=%u nmse %g %g %g %g", K, N, kind, seg, e1, e2, e3, e8);
            }
        }
    }
}

TEST(cuda_lane_twin_gemv_writes_every_row_once) {
    // a column of ones through INT8 codes of +-1 gives each row's exact sum
    const uint32_t K = 97, N = 50;
    std::vector<uint8_t> codes((size_t)K * N);
    for (size_t i = 0; i < codes.size(); i++) codes[i] = (uint8_t)(int8_t)((i * 7 % 3) == 0 ? -1 : 1);
    Stream s;
    CHECK(encodeStream(K, N, codes, ENTQ_CODES_INT8, 3 * K, 0, s) == ENTQ_OK);
    std::vector<float> x(K, 1.0f), y;
    CHECK(twinGemv<1>(s, x, y) == ENTQ_OK);
    for (uint32_t r = 0; r < N; r++) {
        int sum = 0;
        for (uint32_t k = 0; k < K; k++) sum += (int8_t)codes[(size_t)r * K + k];
        CHECKF(y[r] == 0.25f * sum, "row %u: %g vs %g", r, y[r], 0.25 * sum);
    }
}

TEST(cuda_lane_twin_f16_values_are_the_codebook) {
    for (uint32_t kind : {ENTQ_CODES_INT8, ENTQ_CODES_E4M3}) {
        const uint32_t K = 133, N = 21, ld = 136;
        std::vector<uint8_t> codes = makeCodes((uint64_t)K * N, Dist::All256, kind, 11 + kind);
        Stream s;
        CHECK(encodeStream(K, N, codes, kind, 300, 0, s) == ENTQ_OK);
        std::vector<uint16_t> out((size_t)N * ld, 0xFFFF);
        for (uint32_t seg = 0; seg < s.in.n_seg; seg++)
            CHECK(twinSegment(s, seg, [&](uint32_t r0) {
                      return entq_sink_values<CpuWarp>(out.data() + (size_t)r0 * ld, ld);
                  }) == ENTQ_OK);
        for (uint32_t r = 0; r < N; r++)
            for (uint32_t k = 0; k < ld; k++) {
                const uint16_t got = out[(size_t)r * ld + k];
                if (k >= K) {
                    CHECK(got == 0xFFFF);  // the padding is left alone
                    continue;
                }
                const float want = entq_codebook_value(&s.in, s.bytes(), codes[(size_t)r * K + k]);
                CHECKF(entq_f16_to_f32(got) == want, "kind=%u r=%u k=%u", kind, r, k);
            }
    }
}
