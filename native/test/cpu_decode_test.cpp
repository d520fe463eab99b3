// The AVX2 decoder of the CPU kernel (native/cpu/entq_decode_avx2.h) against
// the reference (native/stream/entq_decode.h): the same codes, lane states and
// word pointer after every call, on the stream test corpus, on every prob_bits,
// resumed at arbitrary symbols, and on corrupt payloads (where both must read
// the same clamped words and reach the same verdict; run under ASan with
// `node scripts/build.mjs --native --sanitize`). Also its dequantised values
// and dot products, and a speed comparison (ENTQ_BENCH=1 for the 2048 x 5632
// size: `npm run bench:cpu-decode`).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/entq_decode_avx2.h"
#include "stream/entq_encode.h"
#include "stream_corpus.h"
#include "test.h"

#if ENTQ_AVX2_DECODER

using entq_test::Rng;

namespace {

struct Stream {
    std::vector<uint8_t> bytes;
    entq_info in;
    std::unique_ptr<entq_dtable> ref = std::make_unique<entq_dtable>();
    std::unique_ptr<entq_avx2_table> simd = std::make_unique<entq_avx2_table>();
    bool ok = false;
};

Stream encode(uint32_t K, uint32_t N, const std::vector<uint8_t> & codes, uint32_t kind, uint32_t seg, uint32_t pb,
              const uint16_t * codebook = nullptr) {
    Stream s;
    std::vector<uint16_t> scales(N);
    Rng rng(K * 31 + N);
    for (auto & v : scales) v = entq_f32_to_f16((float) (0.25 + rng.uniform()));
    entq_params p = {kind, codebook, 0.5f, scales.data(), seg, pb};
    entq_plan_t plan;
    if (entq_plan(K, N, codes.data(), &p, &plan) != ENTQ_OK) return s;
    std::vector<uint32_t> buf((entq_encode_bound(&plan) + 3) / 4);
    uint64_t size = 0;
    if (entq_encode(&plan, codes.data(), reinterpret_cast<uint8_t *>(buf.data()), &size) != ENTQ_OK) return s;
    s.bytes.assign(reinterpret_cast<uint8_t *>(buf.data()), reinterpret_cast<uint8_t *>(buf.data()) + size);
    if (entq_parse(s.bytes.data(), size, &s.in) != ENTQ_OK) return s;
    entq_build_dtable(&s.in, s.bytes.data(), s.ref.get());
    entq_avx2_build_table(&s.in, s.bytes.data(), s.simd.get());
    s.ok = true;
    return s;
}

bool same_state(const entq_decoder & a, const entq_decoder & b) {
    return a.ptr == b.ptr && a.i == b.i && std::memcmp(a.x, b.x, sizeof(a.x)) == 0;
}

// Decodes every segment with both decoders in chunks of the given sizes (cycled),
// comparing codes and decoder state after every chunk and the final verdicts.
// buf may be a corrupt copy of s.bytes (same size); returns a description of
// the first difference, or nullptr.
const char * compare_codes(const Stream & s, const uint8_t * buf, const std::vector<uint64_t> & chunks, int * verdict) {
    const uint64_t K = s.in.K;
    std::vector<uint8_t> a, b;
    *verdict = ENTQ_OK;
    for (uint32_t seg = 0; seg < s.in.n_seg; seg++) {
        entq_decoder dr, dv;
        entq_dec_init(&s.in, buf, seg, &dr);
        entq_dec_init(&s.in, buf, seg, &dv);
        a.assign(dr.count, 0);
        b.assign(dr.count, 0xAA);
        for (size_t c = 0; dr.i < dr.count; c++) {
            const uint64_t want = chunks.empty() ? K : chunks[c % chunks.size()];
            const uint64_t n = std::min<uint64_t>(want, dr.count - dr.i);
            const uint64_t at = dr.i;
            entq_dec_run(s.ref.get(), &dr, n, a.data() + at);
            entq_avx2_dec_codes(s.simd.get(), s.ref->sym, &dv, n, b.data() + at);
            if (!same_state(dr, dv)) return "lane states or word pointer differ";
        }
        if (a != b) return "codes differ";
        const int fr = entq_dec_finish(&dr), fv = entq_dec_finish(&dv);
        if (fr != fv) return "verdicts differ";
        if (fr != ENTQ_OK && *verdict == ENTQ_OK) *verdict = fr;
    }
    return nullptr;
}

}  // namespace

TEST(cpu_avx2_decoder_available_here) {
    // the CI and dev machines are x86-64 with AVX2; without it the other tests would test nothing
    CHECK(entq_avx2_available());
}

TEST(cpu_avx2_codes_match_reference_on_the_corpus) {
    if (!entq_avx2_available()) return;
    // element counts {1, 2, 31, 32, 33, 4095, 4096, 4097, 65536+}
    const uint32_t shapes[][2] = {{1, 1},    {2, 1},    {1, 2},  {31, 1},    {1, 31},    {32, 1},    {33, 1},
                                  {4095, 1}, {1, 4095}, {45, 91}, {4096, 1}, {64, 64},   {1, 4097},  {17, 241},
                                  {256, 256}, {1000, 67}, {4097, 17}, {33, 2000}, {2048, 40}};
    const Dist dists[] = {Dist::Uniform, Dist::Laplace, Dist::One, Dist::TwoRare, Dist::All256};
    const std::vector<uint64_t> ragged = {1, 7, 31, 32, 33, 100, 5, 64, 2};
    uint64_t seed = 1, cases = 0;
    for (auto & sh : shapes)
        for (Dist d : dists)
            for (uint32_t kind : {ENTQ_CODES_INT8, ENTQ_CODES_E4M3}) {
                std::vector<uint8_t> codes = makeCodes((uint64_t) sh[0] * sh[1], d, kind, seed++);
                for (uint32_t seg : {0u, 1u, 100u, 4096u}) {
                    Stream s = encode(sh[0], sh[1], codes, kind, seg, 0);
                    CHECKF(s.ok, "encode K=%u N=%u", sh[0], sh[1]);
                    int verdict;
                    for (const auto & chunks : {std::vector<uint64_t>{}, ragged}) {
                        const char * diff = compare_codes(s, s.bytes.data(), chunks, &verdict);
                        CHECKF(!diff, "%s: K=%u N=%u dist=%d kind=%u seg=%u prob_bits=%u", diff, sh[0], sh[1], (int) d, kind, seg,
                               s.in.prob_bits);
                        CHECKF(verdict == ENTQ_OK, "clean stream refused: K=%u N=%u", sh[0], sh[1]);
                        cases++;
                    }
                }
            }
    std::printf("  %llu corpus cases bit-exact\n", (unsigned long long) cases);
}

TEST(cpu_avx2_codes_match_reference_at_every_prob_bits) {
    if (!entq_avx2_available()) return;
    for (Dist d : {Dist::Laplace, Dist::All256, Dist::TwoRare}) {
        std::vector<uint8_t> codes = makeCodes(3000 * 7, d, ENTQ_CODES_E4M3, 7 + (int) d);
        for (uint32_t pb = ENTQ_MIN_PROB_BITS; pb <= ENTQ_MAX_PROB_BITS; pb++) {
            Stream s = encode(3000, 7, codes, ENTQ_CODES_E4M3, 5000, pb);
            CHECKF(s.ok && s.in.prob_bits == pb, "prob_bits=%u", pb);
            int verdict;
            const char * diff = compare_codes(s, s.bytes.data(), {3000, 13, 4096}, &verdict);
            CHECKF(!diff && verdict == ENTQ_OK, "%s: dist=%d prob_bits=%u", diff ? diff : "refused", (int) d, pb);
        }
    }
}

TEST(cpu_avx2_corrupt_payloads_decode_like_the_reference) {
    if (!entq_avx2_available()) return;
    // bit flips in states and words: both decoders must claim the same (clamped)
    // words and emit the same codes; a fresh exact-size heap copy lets ASan see
    // any read past the stream
    Rng rng(2024);
    int flips = 0, refused = 0;
    for (Dist d : {Dist::Laplace, Dist::Uniform, Dist::TwoRare}) {
        std::vector<uint8_t> codes = makeCodes(301 * 9, d, ENTQ_CODES_E4M3, 3);
        Stream s = encode(301, 9, codes, ENTQ_CODES_E4M3, 600, 0);
        CHECK(s.ok);
        const size_t payload = s.in.payload_off, size = s.bytes.size();
        for (int trial = 0; trial < 1500; trial++) {
            std::unique_ptr<uint8_t[]> buf(new uint8_t[size]);
            std::memcpy(buf.get(), s.bytes.data(), size);
            const size_t at = payload + rng.below((uint32_t) (size - payload));
            buf[at] ^= (uint8_t) (1u << rng.below(8));
            if (trial % 3 == 0) buf[payload + rng.below((uint32_t) (size - payload))] ^= 0xff;  // and a burst
            int verdict;
            const char * diff = compare_codes(s, buf.get(), trial % 2 ? std::vector<uint64_t>{} : std::vector<uint64_t>{5, 40, 301}, &verdict);
            CHECKF(!diff, "%s: trial %d, byte %zu", diff, trial, at);
            flips++;
            refused += verdict != ENTQ_OK;
        }
    }
    std::printf("  %d corrupt payloads decoded identically, %d refused by the lane end states\n", flips, refused);
    CHECK(refused > flips / 2);
}

TEST(cpu_avx2_values_and_dot_match_reference) {
    if (!entq_avx2_available()) return;
    Rng rng(5);
    uint16_t cb[256];
    for (auto & c : cb) c = entq_f32_to_f16((float) (rng.uniform() * 4 - 2));
    struct Shape { uint32_t K, N, seg; };
    const Shape shapes[] = {{1, 1, 0}, {17, 3, 0}, {100, 5, 0}, {255, 33, 1000}, {1000, 61, 4096}, {2048, 8, 0}, {4097, 9, 20000}};
    for (const Shape & sh : shapes)
        for (uint32_t kind : {ENTQ_CODES_INT8, ENTQ_CODES_E4M3, ENTQ_CODES_CUSTOM})
        for (uint32_t pb : {0u, 14u}) {  // the encoder's choice (<= 12), and the largest table
            // all 254 finite E4M3 codes (subnormals and negatives included), all 256 INT8 codes
            std::vector<uint8_t> codes = makeCodes((uint64_t) sh.K * sh.N, Dist::All256, kind == ENTQ_CODES_E4M3 ? kind : (uint32_t) ENTQ_CODES_INT8, sh.K + kind);
            Stream s = encode(sh.K, sh.N, codes, kind, sh.seg, pb, kind == ENTQ_CODES_CUSTOM ? cb : nullptr);
            CHECKF(s.ok, "K=%u N=%u kind=%u", sh.K, sh.N, kind);
            const size_t n = (size_t) sh.K * sh.N;
            std::vector<float> want(n), got(n, NAN), act(sh.K);
            std::vector<uint8_t> row(sh.K);
            CHECK(entq_decode_dequantize(&s.in, s.bytes.data(), s.ref.get(), 0, s.in.n_seg, want.data(), row.data()) == ENTQ_OK);
            for (auto & a : act) a = (float) (rng.uniform() * 2 - 1);
            double err = 0, ref2 = 0;
            for (uint32_t seg = 0; seg < s.in.n_seg; seg++) {
                entq_decoder dv, dd;
                entq_dec_init(&s.in, s.bytes.data(), seg, &dv);
                entq_dec_init(&s.in, s.bytes.data(), seg, &dd);
                const uint32_t r0 = seg * s.in.rows_per_seg;
                for (uint32_t r = r0; r < r0 + entq_segment_rows(&s.in, seg); r++) {
                    const float scale = entq_row_scale(&s.in, s.bytes.data(), r);
                    entq_avx2_dec_values(s.simd.get(), &dv, sh.K, scale, got.data() + (size_t) r * sh.K);
                    const double y = (double) entq_avx2_dec_dot(s.simd.get(), &dd, sh.K, act.data()) * scale;
                    double ref = 0;
                    for (uint32_t k = 0; k < sh.K; k++) ref += (double) want[(size_t) r * sh.K + k] * act[k];
                    err += (y - ref) * (y - ref);
                    ref2 += ref * ref;
                }
                CHECK(entq_dec_finish(&dv) == ENTQ_OK && entq_dec_finish(&dd) == ENTQ_OK);
            }
            CHECKF(std::memcmp(want.data(), got.data(), n * sizeof(float)) == 0, "values differ: K=%u N=%u kind=%u", sh.K, sh.N, kind);
            CHECKF(err <= 1e-12 * ref2, "dot nmse %g: K=%u N=%u kind=%u", err / ref2, sh.K, sh.N, kind);
        }
}

TEST(cpu_avx2_dot2_equals_two_dots) {
    if (!entq_avx2_available()) return;
    // two segments decoded in lock step give each segment's entq_avx2_dec_dot bit for bit, leave the same
    // lane states and word pointers, in chunks that start and end inside steps; segments of unequal
    // length (the tensor's last one) and 1-row segments included
    Rng rng(11);
    struct Shape { uint32_t K, N, seg; };
    const Shape shapes[] = {{1, 4, 1}, {31, 7, 40}, {100, 9, 300}, {2048, 6, 2048}, {4097, 5, 8194}, {33, 64, 1}};
    std::vector<float> act(4097 + 8);
    for (auto & a : act) a = (float) (rng.uniform() * 2 - 1);
    for (const Shape & sh : shapes)
        for (uint32_t kind : {ENTQ_CODES_INT8, ENTQ_CODES_E4M3}) {
            std::vector<uint8_t> codes = makeCodes((uint64_t) sh.K * sh.N, Dist::Laplace, kind, sh.K * 7 + kind);
            Stream s = encode(sh.K, sh.N, codes, kind, sh.seg, 0);
            CHECKF(s.ok && s.in.n_seg >= 2, "K=%u N=%u", sh.K, sh.N);
            for (uint32_t a = 0; a + 1 < s.in.n_seg; a++) {
                const uint32_t b = s.in.n_seg - 1 - a > a ? s.in.n_seg - 1 - a : a + 1;
                entq_decoder pa, pb, qa, qb;
                entq_dec_init(&s.in, s.bytes.data(), a, &pa);
                entq_dec_init(&s.in, s.bytes.data(), b, &pb);
                qa = pa;
                qb = pb;
                const uint64_t both = std::min(pa.count, pb.count);
                for (uint64_t c = 0; pa.i < both; c++) {
                    const uint64_t n = std::min<uint64_t>(c % 3 == 0 ? 45 : c % 3 == 1 ? 3 : sh.K, both - pa.i);
                    const float * x = act.data() + pa.i % sh.K % 7;
                    float sums[2];
                    entq_avx2_dec_dot2(s.simd.get(), &pa, &pb, n, x, sums);
                    const float ya = entq_avx2_dec_dot(s.simd.get(), &qa, n, x), yb = entq_avx2_dec_dot(s.simd.get(), &qb, n, x);
                    CHECKF(std::memcmp(&sums[0], &ya, 4) == 0 && std::memcmp(&sums[1], &yb, 4) == 0, "sums differ: K=%u seg %u/%u at %llu",
                           sh.K, a, b, (unsigned long long) qa.i);
                    CHECKF(same_state(pa, qa) && same_state(pb, qb), "states differ: K=%u seg %u/%u", sh.K, a, b);
                }
            }
        }
}

TEST(cpu_decode_bench) {
    // ENTQ_BENCH=1: one 2048 x 5632 tensor (a 1B model's FFN matrix) at ~2.5 bits;
    // otherwise a small one, for the correctness checks only
    const bool full = std::getenv("ENTQ_BENCH") != nullptr;
    const uint32_t K = full ? 2048 : 512, N = full ? 5632 : 256;
    const int reps = full ? 7 : 2;
    const uint64_t n = (uint64_t) K * N;
    std::vector<uint8_t> codes = makeCodesWithEntropy(n, 2.5, 1);
    for (auto & c : codes) c = codeFromIndex((int8_t) c, ENTQ_CODES_E4M3);  // FP8 codes, as the converter's default
    const char * pb_env = std::getenv("ENTQ_BENCH_PROB_BITS");  // 0 = the encoder's choice
    Stream s = encode(K, N, codes, ENTQ_CODES_E4M3, 0, pb_env ? (uint32_t) std::atoi(pb_env) : 0);
    CHECK(s.ok);
    std::vector<uint8_t> out(n), row(K);
    std::vector<float> act(K), y_ref(N), y(N), y2(N), vals(n);
    Rng rng(3);
    for (auto & a : act) a = (float) (rng.uniform() * 2 - 1);
    auto now = [] { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); };
    auto median = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
    std::vector<double> t_ref, t_vals, t_gemv_ref, t_gemv, t_gemv2;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        CHECK(entq_decode_codes(&s.in, s.bytes.data(), s.ref.get(), 0, s.in.n_seg, out.data()) == ENTQ_OK);
        t_ref.push_back(now() - t0);
        CHECK(out == codes);
        t0 = now();
        for (uint32_t seg = 0; seg < s.in.n_seg; seg++) {
            entq_decoder d;
            entq_dec_init(&s.in, s.bytes.data(), seg, &d);
            entq_avx2_dec_values(s.simd.get(), &d, d.count, 1.0f, vals.data() + (size_t) seg * s.in.rows_per_seg * K);
            CHECK(entq_dec_finish(&d) == ENTQ_OK);
        }
        t_vals.push_back(now() - t0);
        t0 = now();
        CHECK(entq_decode_dot(&s.in, s.bytes.data(), s.ref.get(), 0, s.in.n_seg, act.data(), y_ref.data(), row.data()) == ENTQ_OK);
        t_gemv_ref.push_back(now() - t0);
        t0 = now();
        for (uint32_t seg = 0; seg < s.in.n_seg; seg++) {
            entq_decoder d;
            entq_dec_init(&s.in, s.bytes.data(), seg, &d);
            const uint32_t r0 = seg * s.in.rows_per_seg;
            for (uint32_t r = r0; r < r0 + entq_segment_rows(&s.in, seg); r++)
                y[r] = entq_avx2_dec_dot(s.simd.get(), &d, K, act.data()) * entq_row_scale(&s.in, s.bytes.data(), r);
            CHECK(entq_dec_finish(&d) == ENTQ_OK);
        }
        t_gemv.push_back(now() - t0);
        t0 = now();
        const uint32_t half = s.in.n_seg / 2;  // the kernel's pairing: segment j with half + j
        for (uint32_t j = 0; j < half; j++) {
            entq_decoder da, db;
            entq_dec_init(&s.in, s.bytes.data(), j, &da);
            entq_dec_init(&s.in, s.bytes.data(), half + j, &db);
            const uint32_t ra = j * s.in.rows_per_seg, rb = (half + j) * s.in.rows_per_seg;
            for (uint32_t r = 0; r < s.in.rows_per_seg; r++) {
                float sums[2];
                entq_avx2_dec_dot2(s.simd.get(), &da, &db, K, act.data(), sums);
                y2[ra + r] = sums[0] * entq_row_scale(&s.in, s.bytes.data(), ra + r);
                y2[rb + r] = sums[1] * entq_row_scale(&s.in, s.bytes.data(), rb + r);
            }
            CHECK(entq_dec_finish(&da) == ENTQ_OK && entq_dec_finish(&db) == ENTQ_OK);
        }
        t_gemv2.push_back(now() - t0);
        CHECK(y2 == y);
    }
    double err = 0, ref2 = 0;
    for (uint32_t r = 0; r < N; r++) {
        err += (double) (y[r] - y_ref[r]) * (y[r] - y_ref[r]);
        ref2 += (double) y_ref[r] * y_ref[r];
    }
    CHECKF(err <= 1e-10 * ref2, "gemv nmse %g", err / ref2);
    for (size_t i = 0; i < n; i++) CHECK(vals[i] == s.ref->value[codes[i]]);
    std::printf("  %u x %u FP8 codes, %.3f bits/code, prob_bits %u, %u symbols, one core, median of %d:\n", K, N,
                s.bytes.size() * 8.0 / n, s.in.prob_bits, s.in.n_sym, reps);
    std::printf("  decode: reference %.0f M symbols/s (codes), avx2 %.0f M symbols/s (f32 values)\n", n / median(t_ref) / 1e6,
                n / median(t_vals) / 1e6);
    std::printf("  gemv (batch 1): reference entq_decode_dot %.2f ms, avx2 fused %.2f ms (%.0f M weights/s),\n"
                "  avx2 fused two segments in lock step (the kernel's GEMV) %.2f ms (%.0f M weights/s)\n",
                median(t_gemv_ref) * 1e3, median(t_gemv) * 1e3, n / median(t_gemv) / 1e6, median(t_gemv2) * 1e3, n / median(t_gemv2) / 1e6);
}

#endif  // ENTQ_AVX2_DECODER
