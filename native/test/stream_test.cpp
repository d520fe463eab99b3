// ENTQ stream: exact round trips, decode+dot, table normalisation, coded size
// against entropy, and refusal of truncated/corrupted streams without crashing
// (run under ASan/UBSan with `node scripts/build.mjs --native --sanitize`).
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "stream/entq_decode.h"
#include "stream/entq_encode.h"
#include "test.h"
#include "stream_corpus.h"

using entq_test::Rng;

namespace {

struct Encoded {
    std::vector<uint8_t> bytes;
    entq_plan_t plan;
    int status = ENTQ_OK;
};

// Encodes with unit row scales (or the given ones) into an exactly-sized buffer.
Encoded encode(uint32_t K, uint32_t N, const std::vector<uint8_t> &codes, uint32_t kind = ENTQ_CODES_INT8,
               uint32_t segment_symbols = 0, uint32_t prob_bits = 0, const uint16_t *codebook = nullptr,
               std::vector<uint16_t> scales = {}) {
    Encoded e;
    if (scales.empty()) scales.assign(N, entq_f32_to_f16(1.0f));
    entq_params p = {kind, codebook, 0.5f, scales.data(), segment_symbols, prob_bits};
    e.status = entq_plan(K, N, codes.data(), &p, &e.plan);
    if (e.status != ENTQ_OK) return e;
    std::vector<uint32_t> scratch((entq_encode_bound(&e.plan) + 3) / 4);  // 4-aligned
    uint64_t size = 0;
    e.status = entq_encode(&e.plan, codes.data(), reinterpret_cast<uint8_t *>(scratch.data()), &size);
    const uint8_t *b = reinterpret_cast<const uint8_t *>(scratch.data());
    e.bytes.assign(b, b + size);
    return e;
}

// Parses and fully decodes; returns the status and the codes.
int decodeAll(const std::vector<uint8_t> &s, std::vector<uint8_t> &codes) {
    entq_info in;
    int st = entq_parse(s.data(), s.size(), &in);
    if (st != ENTQ_OK) return st;
    auto t = std::make_unique<entq_dtable>();
    entq_build_dtable(&in, s.data(), t.get());
    codes.assign((size_t)in.K * in.N, 0);
    return entq_decode_codes(&in, s.data(), t.get(), 0, in.n_seg, codes.data());
}

bool roundTrip(uint32_t K, uint32_t N, const std::vector<uint8_t> &codes, uint32_t kind, uint32_t seg, uint32_t pb) {
    Encoded e = encode(K, N, codes, kind, seg, pb);
    if (e.status != ENTQ_OK) return false;
    std::vector<uint8_t> out;
    return decodeAll(e.bytes, out) == ENTQ_OK && out == codes;
}

}  // namespace

TEST(stream_round_trip_sizes_shapes_distributions) {
    // element counts {1, 2, 31, 32, 33, 4095, 4096, 4097, 65536+} in several shapes
    const uint32_t shapes[][2] = {{1, 1},   {2, 1},    {1, 2},    {31, 1},   {1, 31},  {32, 1},   {33, 1},
                                  {3, 11},  {4095, 1}, {1, 4095}, {45, 91},  {64, 64}, {4096, 1}, {1, 4097},
                                  {17, 241}, {256, 256}, {1000, 67}, {4097, 17}, {33, 2000}};
    const Dist dists[] = {Dist::Uniform, Dist::Laplace, Dist::One, Dist::TwoRare, Dist::All256};
    uint64_t seed = 1;
    for (auto &sh : shapes)
        for (Dist d : dists)
            for (uint32_t kind : {ENTQ_CODES_INT8, ENTQ_CODES_E4M3}) {
                std::vector<uint8_t> codes = makeCodes((uint64_t)sh[0] * sh[1], d, kind, seed++);
                for (uint32_t seg : {0u, 1u, 100u, 4096u})
                    CHECKF(roundTrip(sh[0], sh[1], codes, kind, seg, 0), "K=%u N=%u dist=%d kind=%u seg=%u", sh[0],
                           sh[1], (int)d, kind, seg);
            }
}

TEST(stream_round_trip_every_prob_bits) {
    std::vector<uint8_t> codes = makeCodes(3000 * 7, Dist::Laplace, ENTQ_CODES_INT8, 7);
    for (uint32_t pb = ENTQ_MIN_PROB_BITS; pb <= ENTQ_MAX_PROB_BITS; pb++)
        CHECKF(roundTrip(3000, 7, codes, ENTQ_CODES_INT8, 5000, pb), "prob_bits=%u", pb);
}

TEST(stream_custom_codebook_and_decode_dot) {
    const uint32_t K = 333, N = 29;
    Rng rng(42);
    uint16_t cb[256];
    for (int i = 0; i < 256; i++) cb[i] = entq_f32_to_f16((float)(rng.uniform() * 4 - 2));
    std::vector<uint8_t> codes = makeCodes((uint64_t)K * N, Dist::Laplace, ENTQ_CODES_INT8, 9);
    std::vector<uint16_t> scales(N);
    for (auto &s : scales) s = entq_f32_to_f16((float)(0.1 + rng.uniform()));
    Encoded e = encode(K, N, codes, ENTQ_CODES_CUSTOM, 700, 0, cb, scales);
    CHECK(e.status == ENTQ_OK);
    entq_info in;
    CHECK(entq_parse(e.bytes.data(), e.bytes.size(), &in) == ENTQ_OK);
    CHECK(in.code_kind == ENTQ_CODES_CUSTOM && in.n_seg == (N + 1) / 2);
    auto t = std::make_unique<entq_dtable>();
    entq_build_dtable(&in, e.bytes.data(), t.get());
    std::vector<float> x(K), y(N);
    for (auto &v : x) v = (float)(rng.uniform() * 2 - 1);
    std::vector<uint8_t> row(K);
    CHECK(entq_decode_dot(&in, e.bytes.data(), t.get(), 0, in.n_seg, x.data(), y.data(), row.data()) == ENTQ_OK);
    double err = 0, ref2 = 0;
    for (uint32_t r = 0; r < N; r++) {
        double ref = 0;
        for (uint32_t k = 0; k < K; k++)
            ref += (double)entq_f16_to_f32(cb[codes[(size_t)r * K + k]]) * x[k];
        ref *= 0.5 * entq_f16_to_f32(scales[r]);
        err += (y[r] - ref) * (y[r] - ref);
        ref2 += ref * ref;
    }
    CHECKF(err / ref2 < 1e-10, "nmse=%g", err / ref2);
}

TEST(stream_e4m3_and_int8_codebooks) {
    // the implied codebooks: every E4M3 byte against its definition
    for (int c = 0; c < 256; c++) {
        int e = (c >> 3) & 15, m = c & 7;
        float v = entq_e4m3_to_f32((uint8_t)c);
        if (e == 15 && m == 7) {
            CHECK(v != v);
            continue;
        }
        double want = e == 0 ? m / 8.0 * std::ldexp(1.0, -6) : (1 + m / 8.0) * std::ldexp(1.0, e - 7);
        if (c & 0x80) want = -want;
        CHECKF((double)v == want, "code %d: %g != %g", c, v, want);
        CHECK(entq_int8_to_f32((uint8_t)c) == (float)(int8_t)c);
    }
    CHECK(entq_e4m3_to_f32(0x7e) == 448.0f);
}

TEST(stream_f16_conversion_round_trips_every_value) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = entq_f16_to_f32((uint16_t)h);
        if (f != f) continue;
        CHECKF(entq_f32_to_f16(f) == h, "f16 %04x -> %g -> %04x", h, f, entq_f32_to_f16(f));
    }
    // ties to even between neighbours, overflow to inf, underflow to zero
    CHECK(entq_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);
    CHECK(entq_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);
    CHECK(entq_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(entq_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(entq_f32_to_f16(1e-9f) == 0);
    CHECK(entq_f32_to_f16(std::ldexp(1.0f, -25) * 1.5f) == 1);
}

TEST(stream_frequencies_keep_every_symbol_and_sum) {
    Rng rng(5);
    for (int trial = 0; trial < 200; trial++) {
        uint64_t counts[256] = {0};
        int n = 1 + rng.below(256);
        for (int i = 0; i < n; i++) counts[rng.below(256)] += 1 + (rng.uniform() < 0.3 ? rng.below(1000000) : rng.below(5));
        for (uint32_t pb = ENTQ_MIN_PROB_BITS; pb <= ENTQ_MAX_PROB_BITS; pb++) {
            uint32_t f[256];
            CHECK(entq_normalize_freqs(counts, pb, f) > 0);
            uint64_t sum = 0;
            for (int s = 0; s < 256; s++) {
                CHECK((counts[s] == 0) == (f[s] == 0));
                sum += f[s];
            }
            CHECK(sum == (1u << pb));
        }
    }
    // optimality: no single-unit move between two symbols lowers the cost
    uint64_t counts[256] = {0};
    for (int s = 0; s < 40; s++) counts[s] = (uint64_t)(1e6 * std::exp(-0.3 * s)) + 1;
    uint32_t f[256];
    entq_normalize_freqs(counts, 10, f);
    double base = entq_coded_bits(counts, f, 10);
    for (int a = 0; a < 40; a++)
        for (int b = 0; b < 40; b++) {
            if (a == b || f[b] <= 1) continue;
            f[a]++, f[b]--;
            CHECKF(entq_coded_bits(counts, f, 10) >= base - 1e-6, "move %d<-%d helps", a, b);
            f[a]--, f[b]++;
        }
}

TEST(stream_refuses_empty_and_bad_arguments) {
    std::vector<uint8_t> codes(10, 0);
    std::vector<uint16_t> scales(10, entq_f32_to_f16(1.0f));
    entq_params p = {ENTQ_CODES_INT8, nullptr, 1.0f, scales.data(), 0, 0};
    entq_plan_t pl;
    CHECK(entq_plan(0, 5, codes.data(), &p, &pl) == ENTQ_ERR_EMPTY);
    CHECK(entq_plan(5, 0, codes.data(), &p, &pl) == ENTQ_ERR_EMPTY);
    p.code_kind = ENTQ_CODES_CUSTOM;  // custom without a codebook
    CHECK(entq_plan(5, 2, codes.data(), &p, &pl) == ENTQ_ERR_ARG);
    p.code_kind = ENTQ_CODES_E4M3;
    codes[3] = 0x7f;  // NaN code
    CHECK(entq_plan(5, 2, codes.data(), &p, &pl) == ENTQ_ERR_CODEBOOK);
    codes[3] = 0;
    scales[1] = 0xfc00;  // -inf scale
    CHECK(entq_plan(5, 2, codes.data(), &p, &pl) == ENTQ_ERR_SCALES);
    scales[1] = entq_f32_to_f16(1.0f);
    p.scale_base = 0.0f;
    CHECK(entq_plan(5, 2, codes.data(), &p, &pl) == ENTQ_ERR_ARG);
}

TEST(stream_refuses_every_truncation) {
    for (Dist d : {Dist::Laplace, Dist::All256, Dist::One}) {
        std::vector<uint8_t> codes = makeCodes(77 * 13, d, ENTQ_CODES_INT8, 11);
        Encoded e = encode(77, 13, codes, ENTQ_CODES_INT8, 200);
        CHECK(e.status == ENTQ_OK);
        for (size_t len = 0; len < e.bytes.size(); len++) {
            // a fresh heap copy of exactly len bytes: ASan sees any read past it
            std::unique_ptr<uint8_t[]> buf(new uint8_t[len ? len : 1]);
            std::memcpy(buf.get(), e.bytes.data(), len);
            entq_info in;
            int st = entq_parse(buf.get(), len, &in);
            CHECKF(st != ENTQ_OK, "truncated to %zu of %zu bytes was accepted", len, e.bytes.size());
        }
    }
}

TEST(stream_detects_corruption_without_crashing) {
    Rng rng(99);
    int flips = 0, caught = 0, payload_flips = 0, payload_caught = 0, derailed = 0;
    for (Dist d : {Dist::Laplace, Dist::Uniform, Dist::TwoRare}) {
        std::vector<uint8_t> codes = makeCodes(301 * 9, d, ENTQ_CODES_E4M3, 3);
        Encoded e = encode(301, 9, codes, ENTQ_CODES_E4M3, 600);
        CHECK(e.status == ENTQ_OK);
        entq_info clean;
        CHECK(entq_parse(e.bytes.data(), e.bytes.size(), &clean) == ENTQ_OK);
        for (int trial = 0; trial < 3000; trial++) {
            std::vector<uint8_t> s = e.bytes;
            size_t at = rng.below((uint32_t)s.size());
            s[at] ^= (uint8_t)(1u << rng.below(8));
            std::unique_ptr<uint8_t[]> buf(new uint8_t[s.size()]);
            std::memcpy(buf.get(), s.data(), s.size());
            std::vector<uint8_t> out;
            entq_info in;
            int st = entq_parse_shape(buf.get(), s.size(), 301, 9, &in);
            if (st == ENTQ_OK) {
                auto t = std::make_unique<entq_dtable>();
                entq_build_dtable(&in, buf.get(), t.get());
                out.assign((size_t)in.K * in.N, 0);
                std::vector<uint8_t> row(in.K);
                st = entq_verify_payload(&in, buf.get(), t.get(), row.data());
            }
            flips++;
            caught += st != ENTQ_OK;
            if (at >= clean.payload_off) {
                // without the checksum, the lanes' end states alone
                auto t = std::make_unique<entq_dtable>();
                entq_build_dtable(&clean, buf.get(), t.get());
                out.assign((size_t)clean.K * clean.N, 0);
                derailed += entq_decode_codes(&clean, buf.get(), t.get(), 0, clean.n_seg, out.data()) != ENTQ_OK;
                payload_flips++;
                payload_caught += st != ENTQ_OK;
            }
        }
    }
    CHECKF(caught == flips, "%d of %d bit flips went unnoticed", flips - caught, flips);
    // the lane end-state check alone catches most payload flips, not all: rANS
    // words carry no redundancy, hence the checksum
    std::printf("  lane end states alone caught %d of %d payload flips\n", derailed, payload_flips);
    CHECK(derailed > payload_flips * 9 / 10);
}

// 3-D weights: the experts' rows in one stream, segments never spanning two experts
TEST(stream_experts_segments_inside_experts) {
    const uint32_t K = 10, E = 3, Ne = 6, N = E * Ne;
    std::vector<uint8_t> codes = makeCodes(K * N, Dist::Laplace, ENTQ_CODES_INT8, 3);
    std::vector<uint16_t> scales(N, entq_f32_to_f16(1.0f));
    entq_params p = {ENTQ_CODES_INT8, nullptr, 0.5f, scales.data(), 50, 0, E};  // 5 rows wanted: 3 divides 6
    entq_plan_t pl;
    CHECK(entq_plan(K, N, codes.data(), &p, &pl) == ENTQ_OK);
    CHECK(pl.rows_per_seg == 3 && pl.n_seg == 6);
    std::vector<uint32_t> scratch((entq_encode_bound(&pl) + 3) / 4);
    uint64_t size = 0;
    CHECK(entq_encode(&pl, codes.data(), reinterpret_cast<uint8_t *>(scratch.data()), &size) == ENTQ_OK);
    std::vector<uint8_t> bytes(reinterpret_cast<uint8_t *>(scratch.data()), reinterpret_cast<uint8_t *>(scratch.data()) + size);
    entq_info in;
    CHECK(entq_parse(bytes.data(), bytes.size(), &in) == ENTQ_OK && in.n_expert == E);
    std::vector<uint8_t> out;
    CHECK(decodeAll(bytes, out) == ENTQ_OK && out == codes);
    entq_params bad = p;
    bad.n_expert = 4;  // does not divide N
    CHECK(entq_plan(K, N, codes.data(), &bad, &pl) == ENTQ_ERR_ARG);
    bad.n_expert = 65536;
    CHECK(entq_plan(K, N, codes.data(), &bad, &pl) == ENTQ_ERR_ARG);
}

TEST(stream_refuses_bad_header_fields) {
    std::vector<uint8_t> codes = makeCodes(50 * 4, Dist::Laplace, ENTQ_CODES_INT8, 2);
    Encoded e = encode(50, 4, codes, ENTQ_CODES_INT8, 100);
    CHECK(e.status == ENTQ_OK);
    entq_info in;
    auto with = [&](size_t at, uint8_t v) {
        std::vector<uint8_t> s = e.bytes;
        s[at] = v;
        return entq_parse(s.data(), s.size(), &in);
    };
    CHECK(with(0, 'X') == ENTQ_ERR_MAGIC);
    CHECK(with(4, 2) == ENTQ_ERR_VERSION);
    CHECK(with(6, 7) == ENTQ_ERR_HEADER);      // code kind
    CHECK(with(7, 15) == ENTQ_ERR_HEADER);     // prob_bits
    {
        std::vector<uint8_t> s = e.bytes;  // K still parses: sizes do not depend on it; the checksum catches it
        s[8] = 51;
        CHECK(entq_check_crc(s.data(), s.size()) == ENTQ_ERR_CHECKSUM);
    }
    CHECK(with(16, 9) == ENTQ_ERR_HEADER);     // rows per segment > N
    CHECK(with(26, 3) == ENTQ_ERR_HEADER);     // experts not dividing N
    CHECK(with(26, 4) == ENTQ_ERR_HEADER);     // a segment (2 rows) spanning two experts (1 row each)
    CHECK(with(26, 2) == ENTQ_OK);             // 2 experts of 2 rows: well-formed (parse reads no checksum)
    CHECK(entq_check_crc(e.bytes.data(), e.bytes.size()) == ENTQ_OK);
    std::vector<uint8_t> scaled = e.bytes;
    scaled[ENTQ_FIXED_HEADER_BYTES] ^= 1;  // a row scale: still well-formed, so only the checksum sees it
    CHECK(entq_parse(scaled.data(), scaled.size(), &in) == ENTQ_OK);
    CHECK(entq_check_crc(scaled.data(), scaled.size()) == ENTQ_ERR_CHECKSUM);
    std::vector<uint8_t> longer = e.bytes;
    longer.push_back(0);
    CHECK(entq_parse(longer.data(), longer.size(), &in) == ENTQ_ERR_SIZE);
    const uint8_t junk[40] = "GGUF this is not an ENTQ stream at all";
    CHECK(entq_parse(junk, sizeof(junk), &in) == ENTQ_ERR_MAGIC);
}

TEST(stream_coded_size_within_one_percent_of_entropy) {
    // 4096 x 4096 codes at ~2, 3 and 4 bits of entropy: total size against
    // entropy x count plus everything that is not payload words
    const uint32_t K = 4096, N = 4096;
    for (double target : {2.0, 3.0, 4.0}) {
        std::vector<uint8_t> codes = makeCodesWithEntropy((uint64_t)K * N, target, 1234);
        Encoded e = encode(K, N, codes, ENTQ_CODES_INT8);
        CHECK(e.status == ENTQ_OK);
        double H = entq_entropy_bits(e.plan.counts);
        double fixed = (double)e.plan.head_bytes + e.plan.n_seg * (double)ENTQ_SEGMENT_STATE_BYTES;
        double ideal = H * K * N / 8 + fixed;
        double ratio = e.bytes.size() / ideal;
        std::printf("  entropy %.3f bits: %zu bytes, ideal %.0f (+%.0f fixed), ratio %.5f, prob_bits %u, %u symbols\n", H,
                    e.bytes.size(), ideal - fixed, fixed, ratio, e.plan.prob_bits, e.plan.n_sym);
        CHECKF(ratio < 1.01, "ratio %.5f", ratio);
        std::vector<uint8_t> out;
        CHECK(decodeAll(e.bytes, out) == ENTQ_OK && out == codes);
    }
}
