// The CPU layout (native/cpu/entq_cpu_layout.h, entq_repack.h): optimal
// length-limited codes, repacked streams that decode to exactly the reference
// decoder's codes (as levels: level x unit == the codebook value), both
// decoders alike, refusals; and a speed comparison with the rANS GEMV
// (ENTQ_BENCH=1 for the 2048 x 5632 size: `npm run bench:cpu-layout`).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "cpu/entq_layout_dot.h"
#include "cpu/entq_repack.h"
#include "stream_corpus.h"
#include "test.h"



using entq_test::Rng;

namespace {

// The cheapest lengths <= L over all length vectors satisfying Kraft, by exhaustion (small n).
uint64_t bruteForceCost(const std::vector<uint64_t> & w, uint32_t L) {
    const size_t n = w.size();
    std::vector<uint32_t> len(n, 1);
    uint64_t best = UINT64_MAX;
    for (;;) {
        double kraft = 0;
        uint64_t cost = 0;
        for (size_t i = 0; i < n; i++) {
            kraft += std::ldexp(1.0, -(int) len[i]);
            cost += w[i] * len[i];
        }
        if (kraft <= 1.0 + 1e-12) best = std::min(best, cost);
        size_t i = 0;
        while (i < n && len[i] == L) len[i++] = 1;
        if (i == n) return best;
        len[i]++;
    }
}

struct Repacked {
    std::vector<uint8_t> stream;
    entq_info in;
    entq_repack_result r;
    std::vector<uint8_t> codes;  // the reference decoder's
};

Repacked repack(uint32_t K, uint32_t N, const std::vector<uint8_t> & codes, uint32_t kind, uint32_t seg = 0,
                const uint16_t * codebook = nullptr, int threads = 2) {
    Repacked p;
    p.stream = encodeCodes(K, N, codes, kind, seg, 0, codebook);
    if (p.stream.empty() || entq_parse(p.stream.data(), p.stream.size(), &p.in) != ENTQ_OK) return p;
    auto t = std::make_unique<entq_dtable>();
    entq_build_dtable(&p.in, p.stream.data(), t.get());
    p.codes.resize((size_t) K * N);
    if (entq_decode_codes(&p.in, p.stream.data(), t.get(), 0, p.in.n_seg, p.codes.data()) != ENTQ_OK) p.codes.clear();
    p.r = entq_repack(&p.in, p.stream.data(), threads, 1e9);
    return p;
}

// Every row decoded by both decoders equals the reference's codes, as values.
bool sameCodes(const Repacked & p, const char * what) {
    const entq_layout * L = (const entq_layout *) p.r.data.get();
    std::vector<uint64_t> tab(1u << ENTQ_LAYOUT_TABLE_BITS);
    entq_layout_build_table(L, tab.data());
    const uint32_t K = L->K, R = L->rows_per_stream;
    const size_t stride = (size_t) R * K + ENTQ_LAYOUT_OVERRUN;
    std::vector<int8_t> fast(ENTQ_LAYOUT_STREAMS * stride), plain(ENTQ_LAYOUT_STREAMS * stride), slow(stride);
    for (uint32_t g = 0; g < L->n_groups; g++) {
        std::fill(fast.begin(), fast.end(), (int8_t) 0x55);
        entq_layout_decode_group(L, tab.data(), g, fast.data(), stride);  // the BMI2 build on x86
        entq_layout_decode_group_body(L, tab.data(), g, plain.data(), stride);  // the portable build of the same source
        for (uint32_t s = 0; s < ENTQ_LAYOUT_STREAMS; s++) {
            entq_layout_decode_stream(L, tab.data(), g, s, slow.data());
            for (uint32_t j = 0; j < entq_layout_stream_rows(L, g, s); j++) {
                const uint64_t row = (uint64_t) g * ENTQ_LAYOUT_STREAMS * R + (uint64_t) j * ENTQ_LAYOUT_STREAMS + s;
                const float rs = entq_row_scale(&p.in, p.stream.data(), (uint32_t) row) / p.in.scale_base;
                if (entq_layout_row_scale(L, (uint32_t) row) != L->unit * rs) {
                    std::fprintf(stderr, "  %s: row %llu scale differs\n", what, (unsigned long long) row);
                    return false;
                }
                for (uint32_t k = 0; k < K; k++) {
                    const int8_t a = fast[s * stride + (size_t) j * K + k], b = slow[(size_t) j * K + k];
                    const float want = entq_codebook_value(&p.in, p.stream.data(), p.codes[row * K + k]) * p.in.scale_base;
                    if (a != b || a != plain[s * stride + (size_t) j * K + k] || (float) a * L->unit != want) {
                        std::fprintf(stderr, "  %s: row %llu col %u: fast %d, one stream %d, level x unit %g, reference %g\n", what,
                                     (unsigned long long) row, k, a, b, (double) ((float) a * L->unit), (double) want);
                        return false;
                    }
                }
            }
        }
    }
    return true;
}

}  // namespace

TEST(prefix_lengths_optimal_and_limited) {
    Rng rng(5);
    for (int trial = 0; trial < 300; trial++) {
        const uint32_t n = 2 + rng.below(5), L = 2 + rng.below(4);
        if (n > (1u << L)) continue;
        std::vector<uint64_t> w(n);
        for (auto & x : w) x = 1 + (trial % 3 == 0 ? rng.below(1u << 20) : rng.below(20));
        std::vector<uint8_t> len(n);
        entq_prefix_lengths(w.data(), n, L, len.data());
        double kraft = 0;
        uint64_t cost = 0;
        for (uint32_t i = 0; i < n; i++) {
            CHECKF(len[i] >= 1 && len[i] <= L, "n=%u L=%u len %u", n, L, len[i]);
            kraft += std::ldexp(1.0, -(int) len[i]);
            cost += w[i] * len[i];
        }
        CHECKF(kraft == 1.0, "n=%u L=%u kraft %g", n, L, kraft);
        CHECKF(cost == bruteForceCost(w, L), "n=%u L=%u cost %llu, best %llu", n, L, (unsigned long long) cost,
               (unsigned long long) bruteForceCost(w, L));
    }
    // large alphabets at the limit: 2048 equal weights need exactly 11 bits each
    std::vector<uint64_t> w(2048, 7);
    std::vector<uint8_t> len(2048);
    entq_prefix_lengths(w.data(), 2048, 11, len.data());
    for (auto l : len) CHECK(l == 11);
    uint8_t one;
    uint64_t w1 = 3;
    entq_prefix_lengths(&w1, 1, 11, &one);
    CHECK(one == 0);
    // canonical words are a prefix code: no word is a prefix of another (LSB-first)
    std::vector<uint64_t> geo(40);
    for (size_t i = 0; i < geo.size(); i++) geo[i] = (1ull << 40) >> i;
    std::vector<uint8_t> gl(40);
    std::vector<uint32_t> words(40);
    entq_prefix_lengths(geo.data(), 40, 11, gl.data());
    entq_prefix_codewords(gl.data(), 40, words.data());
    for (uint32_t a = 0; a < 40; a++)
        for (uint32_t b = 0; b < 40; b++)
            if (a != b && gl[a] <= gl[b]) CHECK((words[b] & ((1u << gl[a]) - 1)) != words[a]);
}

TEST(cpu_layout_decodes_reference_codes) {
    struct Shape { uint32_t K, N; };
    const Shape shapes[] = {{1, 1}, {1, 300}, {300, 1}, {5, 7}, {31, 33}, {64, 64}, {100, 77}, {256, 256}, {2048, 40}, {4097, 9}};
    const Dist dists[] = {Dist::Laplace, Dist::One, Dist::TwoRare};
    int n_pairs = 0, n_single = 0;
    for (const Shape & sh : shapes)
        for (Dist d : dists)
            for (uint32_t kind : {(uint32_t) ENTQ_CODES_E4M3, (uint32_t) ENTQ_CODES_INT8}) {
                const uint64_t seed = sh.K * 1000003ull + sh.N * 31 + (uint64_t) d * 7 + kind;
                std::vector<uint8_t> codes = makeCodes((uint64_t) sh.K * sh.N, d, kind, seed);
                if (kind == ENTQ_CODES_E4M3)  // the integer grid: E4M3 values up to 120 x 2^-9
                    for (auto & c : codes) c = (uint8_t) ((c & 0x80) | std::min<uint8_t>(c & 0x7f, 0x27));
                for (uint32_t seg : {0u, 64u}) {
                    Repacked p = repack(sh.K, sh.N, codes, kind, seg);
                    CHECKF(!p.codes.empty() && p.r.status == ENTQ_REPACK_OK, "K=%u N=%u dist %d kind %u: status %d", sh.K, sh.N, (int) d,
                           kind, p.r.status);
                    char what[96];
                    std::snprintf(what, sizeof(what), "K=%u N=%u dist %d kind %u seg %u", sh.K, sh.N, (int) d, kind, seg);
                    CHECK(sameCodes(p, what));
                    (p.r.pair_code ? n_pairs : n_single)++;
                }
            }
    // entropies from 1 to 5 bits: pair and single codes both occur and decode
    for (double bits : {0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0}) {
        const uint32_t K = 1000, N = 130;
        Repacked p = repack(K, N, makeCodesWithEntropy((uint64_t) K * N, bits, 9), ENTQ_CODES_INT8);
        CHECK(p.r.status == ENTQ_REPACK_OK);
        char what[64];
        std::snprintf(what, sizeof(what), "entropy %.1f bits", bits);
        CHECK(sameCodes(p, what));
        (p.r.pair_code ? n_pairs : n_single)++;
    }
    CHECKF(n_pairs > 0 && n_single > 0, "pair codes %d, single codes %d", n_pairs, n_single);
    // a custom codebook whose values are multiples of 2^-3 (levels up to 120)
    std::vector<uint16_t> book(256);
    for (int s = 0; s < 256; s++) book[s] = entq_f32_to_f16((float) ((int8_t) s % 121) * 0.125f);
    std::vector<uint8_t> codes = makeCodes(200 * 50, Dist::Laplace, ENTQ_CODES_INT8, 4);
    Repacked p = repack(200, 50, codes, ENTQ_CODES_CUSTOM, 0, book.data());
    CHECK(p.r.status == ENTQ_REPACK_OK);
    CHECK(sameCodes(p, "custom codebook"));
}

TEST(cpu_layout_refusals) {
    // values that are no int8 grid: E4M3 codes from 2^-9 to 448
    std::vector<uint8_t> wide = makeCodes(64 * 64, Dist::Uniform, ENTQ_CODES_E4M3, 3);
    CHECK(repack(64, 64, wide, ENTQ_CODES_E4M3).r.status == ENTQ_REPACK_LEVELS);
    // a corrupt payload is found, with its segment
    std::vector<uint8_t> codes = makeCodes(256 * 64, Dist::Laplace, ENTQ_CODES_INT8, 8);
    std::vector<uint8_t> s = encodeCodes(256, 64, codes, ENTQ_CODES_INT8, 2048);
    entq_info in;
    CHECK(entq_parse(s.data(), s.size(), &in) == ENTQ_OK && in.n_seg == 8);
    uint64_t start, end;
    entq_segment_range(&in, s.data(), 5, &start, &end);
    s[start + ENTQ_SEGMENT_STATE_BYTES + 10] ^= 0x10;
    entq_repack_result r = entq_repack(&in, s.data(), 2, 1e9);
    CHECK(r.status == ENTQ_REPACK_PAYLOAD && r.seg == 5);
    // the size rule
    CHECK(entq_parse(encodeCodes(256, 64, codes, ENTQ_CODES_INT8).data(), 0, &in) != ENTQ_OK);
    std::vector<uint8_t> ok = encodeCodes(256, 64, codes, ENTQ_CODES_INT8);
    CHECK(entq_parse(ok.data(), ok.size(), &in) == ENTQ_OK);
    r = entq_repack(&in, ok.data(), 1, 0.5);
    CHECK(r.status == ENTQ_REPACK_LARGER && r.layout_bytes > ok.size() / 2 && !r.data);
}

TEST(cpu_layout_dot16_matches_quantised_f64) {
    Rng rng(21);
    for (uint32_t K : {1u, 7u, 8u, 31u, 32u, 33u, 100u, 1031u, 4096u}) {
        std::vector<int8_t> lv(K + ENTQ_LAYOUT_OVERRUN);
        std::vector<float> x(K), d(entq_act16_blocks(K));
        std::vector<int16_t> q(entq_act16_len(K));
        for (auto & v : lv) v = (int8_t) (rng.below(255) - 127);
        for (auto & v : x) v = (float) (rng.uniform() * 2 - 1);
        entq_act16_quantize(x.data(), K, q.data(), d.data());
        double ref = 0, mag = 0;
        for (uint32_t k = 0; k < K; k++) {
            const double p = (double) lv[k] * q[k] * d[k / ENTQ_ACT16_BLOCK];
            ref += p;
            mag += std::fabs(p);
        }
        std::vector<std::pair<const char *, float>> got = {{"dispatched", entq_layout_dot16(lv.data(), q.data(), d.data(), K)},
                                                            {"plain C", entq_layout_dot16_ref(lv.data(), q.data(), d.data(), K)}};
#if ENTQ_AVX2_DECODER
        if (entq_avx2_available()) got.push_back({"avx2", entq_layout_dot16_avx2(lv.data(), q.data(), d.data(), K)});
        if (entq_vnni512_available()) got.push_back({"avx512-vnni", entq_layout_dot16_vnni512(lv.data(), q.data(), d.data(), K)});
#endif
        for (const auto & [name, v] : got)
            CHECKF(std::fabs(v - ref) <= 16 * std::ldexp(mag, -24), "%s K=%u: %g vs %g", name, K, (double) v, ref);
    }
}

TEST(act16_quantize_avx2_equals_reference) {
#if ENTQ_AVX2_DECODER
    if (!entq_avx2_available()) return;
    Rng rng(33);
    for (uint32_t K : {1u, 7u, 8u, 15u, 16u, 17u, 1023u, 1024u, 1025u, 3000u}) {
        std::vector<float> x(K);
        for (auto & v : x) v = (float) ((rng.uniform() * 2 - 1) * (rng.uniform() < 0.05 ? 100 : 1));
        if (K > 20) x[K / 2] = 0.5f * (float) (1.0 / 32767);  // a tie or two after scaling is fine: both round half to even
        const uint32_t Kp = entq_act16_len(K), nb = entq_act16_blocks(K);
        std::vector<int16_t> q1(Kp, 7), q2(Kp, 9);
        std::vector<float> d1(nb), d2(nb);
        entq_act16_quantize_ref(x.data(), K, q1.data(), d1.data());
        entq_act16_quantize_avx2(x.data(), K, q2.data(), d2.data());
        CHECKF(q1 == q2 && d1 == d2, "K=%u", K);
    }
    std::vector<float> zeros(100, 0.0f);  // an all-zero block: scale 0, values 0
    std::vector<int16_t> q(entq_act16_len(100), 5);
    std::vector<float> d(1, 1.0f);
    entq_act16_quantize(zeros.data(), 100, q.data(), d.data());
    CHECK(d[0] == 0.0f && std::all_of(q.begin(), q.end(), [](int16_t v) { return v == 0; }));
#endif
}

TEST(cpu_layout_bench) {
    // ENTQ_BENCH=1: one 2048 x 5632 tensor (a 1B model's FFN matrix) at ~2.5 bits, FP8 codes as the
    // converter makes them; otherwise a small one, for the checks only
    const bool full = std::getenv("ENTQ_BENCH") != nullptr;
    const uint32_t K = full ? 2048 : 512, N = full ? 5632 : 256;
    const int reps = full ? 15 : 2;
    const char * bits_env = std::getenv("ENTQ_BENCH_BITS");
    const double bits = bits_env ? std::atof(bits_env) : 2.5;
    const uint64_t n = (uint64_t) K * N;
    std::vector<uint8_t> codes = makeCodesWithEntropy(n, bits, 1);
    for (auto & c : codes) c = codeFromIndex((int8_t) c, ENTQ_CODES_E4M3);
    // ENTQ_BENCH_CODES=file: a K x N tensor's FP8 codes from a converted model instead (raw bytes, row-major)
    if (const char * path = std::getenv("ENTQ_BENCH_CODES")) {
        FILE * f = std::fopen(path, "rb");
        CHECKF(f && std::fread(codes.data(), 1, n, f) == n, "%s: want %llu bytes of codes", path, (unsigned long long) n);
        std::fclose(f);
    }
    auto now = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
    Repacked p = repack(K, N, codes, ENTQ_CODES_E4M3, 0, nullptr, 1);
    CHECK(p.r.status == ENTQ_REPACK_OK);
    double t_repack = 1e9;  // what loading costs: entq_repack alone, one thread
    for (int r = 0; r < 3; r++) {
        const double t0 = now();
        entq_repack_result again = entq_repack(&p.in, p.stream.data(), 1, 1e9);
        t_repack = std::min(t_repack, now() - t0);
        CHECK(again.status == ENTQ_REPACK_OK && again.layout_bytes == p.r.layout_bytes);
    }
    const entq_layout * L = (const entq_layout *) p.r.data.get();

    std::vector<float> act(K), y_ref(N), y(N);
    Rng rng(3);
    for (auto & a : act) a = (float) (rng.uniform() * 2 - 1);
    auto ref = std::make_unique<entq_dtable>();
    entq_build_dtable(&p.in, p.stream.data(), ref.get());
    std::vector<uint8_t> row(K);
    CHECK(entq_decode_dot(&p.in, p.stream.data(), ref.get(), 0, p.in.n_seg, act.data(), y_ref.data(), row.data()) == ENTQ_OK);

    // the kernel's GEMV over the layout: quantise the activations, build the table, decode each group, dot its rows
    std::vector<uint64_t> tab(1u << ENTQ_LAYOUT_TABLE_BITS);
    const size_t stride = (size_t) L->rows_per_stream * K + ENTQ_LAYOUT_OVERRUN;
    std::vector<int8_t> gbuf(ENTQ_LAYOUT_STREAMS * stride);
    // run() returns the seconds to record, or 0 to record its whole call
    struct Variant { const char * name; std::function<double()> run; std::vector<double> t; };
    std::vector<Variant> vs;
    std::vector<int16_t> q16(entq_act16_len(K));
    std::vector<float> d16(entq_act16_blocks(K));
    auto gemv = [&] {
        entq_act16_quantize(act.data(), K, q16.data(), d16.data());
        entq_layout_build_table(L, tab.data());
        for (uint32_t g = 0; g < L->n_groups; g++) {
            entq_layout_decode_group(L, tab.data(), g, gbuf.data(), stride);
            for (uint32_t s = 0; s < ENTQ_LAYOUT_STREAMS; s++)
                for (uint32_t j = 0; j < entq_layout_stream_rows(L, g, s); j++) {
                    const uint32_t r = (g * L->rows_per_stream + j) * ENTQ_LAYOUT_STREAMS + s;
                    y[r] = entq_layout_dot16(gbuf.data() + s * stride + (size_t) j * K, q16.data(), d16.data(), K) * entq_layout_row_scale(L, r);
                }
        }
        return 0.0;
    };
    vs.push_back({"layout GEMV, int16 activations (the kernel)", gemv, {}});
    std::vector<uint8_t> flush(96u << 20, 1);
    vs.push_back({"layout GEMV, weights not in cache", [&] {
                      uint64_t sum = 0;  // 96 MB touched first: the tensor comes from memory, as in a model's forward pass
                      for (size_t i = 0; i < flush.size(); i += 64) sum += flush[i]++;
                      const double a = now();
                      gemv();
                      return (now() - a) + 0.0 * (double) sum;
                  }, {}});
    vs.push_back({"layout decode only", [&] {
                       entq_layout_build_table(L, tab.data());
                       for (uint32_t g = 0; g < L->n_groups; g++) entq_layout_decode_group(L, tab.data(), g, gbuf.data(), stride);
                       return 0.0;
                   }, {}});
    vs.push_back({"layout table build", [&] {
                       entq_layout_build_table(L, tab.data());
                       return 0.0;
                   }, {}});
#if ENTQ_AVX2_DECODER
    auto simd = std::make_unique<entq_avx2_table>();
    entq_avx2_build_table(&p.in, p.stream.data(), simd.get());
    if (entq_avx2_available())
        vs.push_back({"rANS GEMV (AVX2, two segments in lock step)", [&] {
                          const uint32_t half = p.in.n_seg / 2;
                          for (uint32_t j = 0; j < half; j++) {
                              entq_decoder da, db;
                              entq_dec_init(&p.in, p.stream.data(), j, &da);
                              entq_dec_init(&p.in, p.stream.data(), half + j, &db);
                              for (uint32_t r = 0; r < p.in.rows_per_seg; r++) {
                                  float sums[2];
                                  entq_avx2_dec_dot2(simd.get(), &da, &db, K, act.data(), sums);
                              }
                          }
                          return 0.0;
                      }, {}});
#endif
    // one core's clock: a chain of dependent adds runs at one per cycle
    auto clock_ghz = [&] {
#if defined(__GNUC__) && defined(__x86_64__)
        double best = 1e9;
        for (int i = 0; i < 5; i++) {
            uint64_t x = 0;
            const double a = now();
            for (uint64_t k = 0; k < 5000000; k++) __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
            best = std::min(best, now() - a);
        }
        return 20000000 / best / 1e9;
#else
        return 0.0;
#endif
    };
    double ghz = clock_ghz();
    for (int r = 0; r < reps; r++)
        for (auto & v : vs) {
            const double a = now();
            const double inner = v.run();
            v.t.push_back(inner > 0 ? inner : now() - a);
        }
    ghz = std::max(ghz, clock_ghz());
    double err = 0, ref2 = 0;
    vs[0].run();
    for (uint32_t r = 0; r < N; r++) {
        err += (double) (y[r] - y_ref[r]) * (y[r] - y_ref[r]);
        ref2 += (double) y_ref[r] * y_ref[r];
    }
    CHECKF(err <= 1e-8 * ref2, "gemv nmse %g", err / ref2);  // int16 activations: ~(2^-16)^2 x (block max / rms)^2
    std::printf("  %u x %u FP8 codes at %.2f bits of entropy; stream %.3f bits/weight, layout %.3f (%s code, %u codes, %u rows/stream, x%.4f), repack %.0f ms on one thread (%.1f ns/weight)\n",
                K, N, bits, p.stream.size() * 8.0 / n, L->bytes * 8.0 / n, L->pair_code ? "pair" : "single", L->n_codes, L->rows_per_stream,
                (double) L->bytes / p.stream.size(), t_repack * 1e3, t_repack * 1e9 / n);
    std::printf("  one core, clock %.2f GHz (dependent adds), best of %d, runs alternated:\n", ghz, reps);
    for (auto & v : vs) {
        const double best = *std::min_element(v.t.begin(), v.t.end());
        std::vector<double> s = v.t;
        std::sort(s.begin(), s.end());
        if (std::strstr(v.name, "table build"))
            std::printf("  %-46s %8.1f us\n", v.name, best * 1e6);
        else
            std::printf("  %-46s %8.3f ms (median %.3f)  %6.0f M weights/s  %.2f cycles/weight\n", v.name, best * 1e3, s[s.size() / 2] * 1e3,
                        n / best / 1e6, best * ghz * 1e9 / n);
    }
}
