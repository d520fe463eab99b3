// The CUDA layout of lane streams (native/cuda/entq_tile.h) and its repacker
// (entq_tile_repack.h), run by the CPU twin (entq_tile_walk with entq_warp_cpu:
// the kernels' source, 32 lanes per call, the warp's butterfly emulated):
// codes bit-exact with the reference decoder for every shape, code kind and
// prob_bits; GEMV for 1..8 columns against an f64 product (NMSE < 1e-6); f16
// rows exact; the layout within its header-only bound; corrupt streams refused
// at repack with the tensor's name.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cuda/entq_tile_repack.h"
#include "stream_corpus.h"
#include "test.h"

using entq_test::Rng;

namespace {

typedef entq_warp_cpu CpuWarp;

struct Packed {
    std::vector<entq_tile_chunk> blob;
    entq_tile_head head;
    entq_tile_tensor t;
    entq_info in;
    std::vector<uint8_t> stream;
    const entq_tile_slot *table() const { return t.table; }
};

// Encodes codes as a file stream, parses it and repacks it; false (with the message) on failure.
bool pack(uint32_t K, uint32_t N, const std::vector<uint8_t> &codes, uint32_t kind, uint32_t prob_bits, Packed &p,
          std::string &err, uint32_t segment_symbols = 0) {
    p.stream = encodeCodes(K, N, codes, kind, segment_symbols, prob_bits);
    if (p.stream.empty()) { err = "encode failed"; return false; }
    if (entq_parse(p.stream.data(), p.stream.size(), &p.in) != ENTQ_OK) { err = "parse failed"; return false; }
    if (!entq_tile_repack(p.stream.data(), p.stream.size(), K, N, "blk.0.ffn_up.weight", p.blob, &p.head, err)) return false;
    entq_tile_describe(&p.head, reinterpret_cast<const uint8_t *>(p.blob.data()), &p.t);
    return true;
}

std::vector<uint8_t> twinCodes(const Packed &p, bool &ends_ok) {
    std::vector<uint8_t> out((size_t)p.t.K * p.t.N, 0xAB);
    ends_ok = true;
    for (uint32_t tile = 0; tile < p.t.n_tiles; tile++) {
        entq_tile_sink_codes<CpuWarp> sink{out.data(), p.t.K, tile * p.t.rows_per_tile};
        ends_ok = entq_tile_walk<CpuWarp>(p.t, p.table(), tile, sink) && ends_ok;
    }
    return out;
}

// NMSE of the twin's B-column GEMV against an f64 product of the codes' values.
template <int B> double gemvNmse(const Packed &p, const std::vector<uint8_t> &codes) {
    const uint32_t K = p.t.K, N = p.t.N;
    Rng rng(K * 7ull + N + B);
    std::vector<float> x((size_t)B * K), y((size_t)B * N, NAN);
    for (auto &v : x) v = (float)(rng.uniform() * 2 - 1);
    for (uint32_t tile = 0; tile < p.t.n_tiles; tile++) {
        const uint32_t r0 = tile * p.t.rows_per_tile;
        entq_tile_sink_gemv<CpuWarp, B> sink(x.data(), K, y.data(), N, p.t.scales, p.t.scale_base);
        entq_tile_walk<CpuWarp>(p.t, p.table(), tile, sink);
        (void)r0;
    }
    double err = 0, ref2 = 0;
    for (int c = 0; c < B; c++)
        for (uint32_t r = 0; r < N; r++) {
            double s = 0;
            for (uint32_t k = 0; k < K; k++)
                s += (double)entq_codebook_value(&p.in, p.stream.data(), codes[(size_t)r * K + k]) * x[(size_t)c * K + k];
            s *= (double)entq_row_scale(&p.in, p.stream.data(), r); // scale_base * the row's f16 scale
            const double d = y[(size_t)c * N + r] - s;
            err += d * d;
            ref2 += s * s;
        }
    return ref2 > 0 ? err / ref2 : err;
}

double gemvNmseBatch(const Packed &p, const std::vector<uint8_t> &codes, int B) {
    switch (B) {
    case 1: return gemvNmse<1>(p, codes);
    case 2: return gemvNmse<2>(p, codes);
    case 3: return gemvNmse<3>(p, codes);
    case 4: return gemvNmse<4>(p, codes);
    case 5: return gemvNmse<5>(p, codes);
    case 6: return gemvNmse<6>(p, codes);
    case 7: return gemvNmse<7>(p, codes);
    default: return gemvNmse<8>(p, codes);
    }
}

// Everything the twin must agree on, for one packed case.
void checkCase(const char *what, uint32_t K, uint32_t N, uint32_t kind, uint32_t prob_bits, Dist d, bool all_batches) {
    const std::vector<uint8_t> codes = makeCodes((uint64_t)K * N, d, kind, K * 131ull + N * 7 + prob_bits);
    Packed p;
    std::string err;
    const bool ok = pack(K, N, codes, kind, prob_bits, p, err);
    CHECKF(ok, "%s: repack failed: %s", what, err.c_str());
    if (!ok) return;
    // the reference agrees with the codes it was given (the twin is compared with both)
    auto t = std::make_unique<entq_dtable>();
    entq_build_dtable(&p.in, p.stream.data(), t.get());
    std::vector<uint8_t> ref((size_t)K * N);
    CHECK(entq_decode_codes(&p.in, p.stream.data(), t.get(), 0, p.in.n_seg, ref.data()) == ENTQ_OK);
    CHECK(ref == codes);

    bool ends_ok = false;
    const std::vector<uint8_t> twin = twinCodes(p, ends_ok);
    CHECKF(twin == ref, "%s: twin codes differ from the reference", what);
    CHECKF(ends_ok, "%s: a lane did not end at L", what);

    // the layout within the bound the header alone gives, table precision capped
    CHECK(p.head.size <= entq_tile_bound(&p.in));
    CHECK(p.head.prob_bits == (p.in.prob_bits < ENTQ_TILE_MAX_PROB_BITS ? p.in.prob_bits : ENTQ_TILE_MAX_PROB_BITS));
    CHECK(p.head.size == p.blob.size() * sizeof(entq_tile_chunk));

    // f16 rows: exactly f16(codebook value)
    std::vector<uint16_t> f16((size_t)N * K, 0xFFFF);
    for (uint32_t tile = 0; tile < p.t.n_tiles; tile++) {
        entq_tile_sink_f16<CpuWarp> sink{f16.data(), K, tile * p.t.rows_per_tile};
        entq_tile_walk<CpuWarp>(p.t, p.table(), tile, sink);
    }
    bool f16_ok = true;
    for (size_t i = 0; i < f16.size() && f16_ok; i++)
        f16_ok = f16[i] == entq_f32_to_f16(entq_codebook_value(&p.in, p.stream.data(), codes[i]));
    CHECKF(f16_ok, "%s: f16 rows differ", what);

    for (int B = 1; B <= 8; B++) {
        if (!all_batches && B != 1 && B != 3 && B != 8) continue;
        const double nmse = gemvNmseBatch(p, codes, B);
        CHECKF(nmse < 1e-6, "%s: GEMV B=%d NMSE %.3g", what, B, nmse);
    }
}

}  // namespace

TEST(cuda_tile_twin_shapes_kinds_prob_bits) {
    const uint32_t shapes[][2] = {{31, 37}, {1000, 9}, {4096, 5}, {4097, 3}, {11008, 3}};
    for (auto &s : shapes)
        for (uint32_t kind : {ENTQ_CODES_E4M3, ENTQ_CODES_INT8})
            for (uint32_t pb = 8; pb <= 12; pb++) {
                char what[96];
                snprintf(what, sizeof what, "K=%u N=%u kind=%u pb=%u", s[0], s[1], kind, pb);
                checkCase(what, s[0], s[1], kind, pb, Dist::Laplace, pb == 11);
            }
}

TEST(cuda_tile_twin_edge_distributions_and_wide_tables) {
    // one symbol, a rare second one, all 256 (E4M3: 254 valid), and file tables wider than ours (renormalised)
    const Dist dists[] = {Dist::One, Dist::TwoRare, Dist::All256, Dist::Uniform};
    for (Dist d : dists)
        for (uint32_t pb : {8u, 11u, 13u, 14u}) {
            char what[96];
            snprintf(what, sizeof what, "dist=%d pb=%u", (int)d, pb);
            checkCase(what, 1000, 17, ENTQ_CODES_INT8, pb, d, false);
            checkCase(what, 64, 65, ENTQ_CODES_E4M3, pb, d, false);
        }
}

TEST(cuda_tile_twin_expert_stacks) {
    // [K, N, E] coded as one stream of E x N rows: every expert a run of whole tiles, its GEMV
    // through entq_tile_expert equal to the reference on its own rows (N = 7 forces one-row tiles)
    const uint32_t shapes[][3] = {{256, 96, 4}, {1000, 7, 3}, {64, 600, 2}};
    for (auto &sh : shapes) {
        const uint32_t K = sh[0], N = sh[1], E = sh[2];
        const std::vector<uint8_t> codes = makeCodes((uint64_t)K * N * E, Dist::Laplace, ENTQ_CODES_E4M3, K + N + E);
        Packed p;
        p.stream = encodeCodes(K, N * E, codes, ENTQ_CODES_E4M3, 0, 11, nullptr, E);
        CHECK(!p.stream.empty() && entq_parse(p.stream.data(), p.stream.size(), &p.in) == ENTQ_OK && p.in.n_expert == E);
        std::string err;
        const bool ok = entq_tile_repack(p.stream.data(), p.stream.size(), K, N * E, "blk.0.ffn_up_exps.weight", p.blob, &p.head, err, E);
        CHECKF(ok, "K=%u N=%u E=%u: %s", K, N, E, err.c_str());
        if (!ok) continue;
        entq_tile_describe(&p.head, reinterpret_cast<const uint8_t *>(p.blob.data()), &p.t);
        CHECKF(N % p.head.rows_per_tile == 0, "K=%u N=%u: %u rows per tile", K, N, p.head.rows_per_tile);
        const entq_tile_tensor whole = p.t;
        for (uint32_t e = 0; e < E; e++) {
            Packed q = p;  // expert e seen alone: its rows of the codes, its row scales
            q.t = entq_tile_expert(&whole, E, e);
            q.t.table = whole.table;
            const std::vector<uint8_t> mine(codes.begin() + (size_t)e * N * K, codes.begin() + (size_t)(e + 1) * N * K);
            bool ends_ok = false;
            CHECKF(twinCodes(q, ends_ok) == mine && ends_ok, "K=%u N=%u expert %u: codes differ", K, N, e);
            // the reference's row scales for expert e start at row e N: shift them into the twin's view
            std::vector<uint16_t> scales(whole.scales + (size_t)e * N, whole.scales + (size_t)(e + 1) * N);
            CHECK(memcmp(scales.data(), q.t.scales, 2ull * N) == 0);
        }
        // the expert count must match the stream's
        err.clear();
        CHECK(!entq_tile_repack(p.stream.data(), p.stream.size(), K, N * E, "w", p.blob, &p.head, err, 0) &&
              err.find("shape") != std::string::npos);
    }
}

TEST(cuda_tile_twin_get_rows_bit_exact) {
    // GET_ROWS through the layout (entq_tile_sink_row, as tile_get_rows_kernel runs it): every asked row
    // bit for bit the reference's dequantised row, for tiles of one row and of many, both code kinds
    const uint32_t shapes[][2] = {{4096, 9}, {1000, 40}, {31, 70}};
    for (auto &sh : shapes)
        for (uint32_t kind : {ENTQ_CODES_E4M3, ENTQ_CODES_INT8}) {
            const uint32_t K = sh[0], N = sh[1];
            const std::vector<uint8_t> codes = makeCodes((uint64_t)K * N, Dist::Laplace, kind, K + N + kind);
            Packed p;
            std::string err;
            CHECKF(pack(K, N, codes, kind, 12, p, err), "%s", err.c_str());
            std::vector<float> ref((size_t)K * N);
            auto dt = std::make_unique<entq_dtable>();
            entq_build_dtable(&p.in, p.stream.data(), dt.get());
            std::vector<uint8_t> row_buf(K);
            CHECK(entq_decode_dequantize(&p.in, p.stream.data(), dt.get(), 0, p.in.n_seg, ref.data(), row_buf.data()) == ENTQ_OK);
            const uint32_t rows[] = {N - 1, 0, N / 2, N / 2, 1 % N};
            bool same = true;
            for (uint32_t r : rows) {
                std::vector<float> out(K, NAN);
                const uint32_t tile = r / p.t.rows_per_tile;
                entq_tile_sink_row<CpuWarp> sink(out.data(), tile * p.t.rows_per_tile, r, p.t.scales, p.t.scale_base);
                entq_tile_walk<CpuWarp>(p.t, p.table(), tile, sink);
                same = same && memcmp(out.data(), ref.data() + (size_t)r * K, (size_t)K * sizeof(float)) == 0;
            }
            CHECKF(same, "K=%u N=%u kind=%u (%u rows per tile): rows differ from the reference", K, N, kind, p.t.rows_per_tile);
        }
}

TEST(cuda_tile_layout_size_and_overhead) {
    // a realistic weight: K = 4096, ~2.7 bits of entropy, the converter's default table
    const uint32_t K = 4096, N = 64;
    const std::vector<uint8_t> codes = makeCodesWithEntropy((uint64_t)K * N, 2.7, 5);
    for (uint32_t pb : {11u, 14u}) {
        Packed p;
        std::string err;
        CHECKF(pack(K, N, codes, ENTQ_CODES_INT8, pb, p, err), "%s", err.c_str());
        const double n = (double)K * N;
        const double file = p.stream.size() * 8.0 / n, layout = p.head.size * 8.0 / n,
                     bound = entq_tile_bound(&p.in) * 8.0 / n;
        // table (32 KB) amortised over this small matrix aside, the words stay close to the file's
        const double words = (p.head.n_words * 16.0 + p.t.n_tiles * 32 * 64.0) / n;
        const double file_words = (p.in.payload_bytes * 8.0) / n;
        printf("    [tile layout K=%u N=%u file pb=%u] file %.3f b/w, layout %.3f b/w (words + lane states %.3f vs file payload %.3f), header bound %.3f b/w\n",
               K, N, pb, file, layout, words, file_words, bound);
        CHECK(layout <= bound);
        CHECK(words < file_words + 0.25);  // lane states: 64 bits per 512 symbols
    }
}

TEST(cuda_tile_repack_refuses_corrupt_streams_naming_the_tensor) {
    const uint32_t K = 1000, N = 40;
    const std::vector<uint8_t> codes = makeCodes((uint64_t)K * N, Dist::Laplace, ENTQ_CODES_E4M3, 99);
    Packed good;
    std::string err;
    CHECK(pack(K, N, codes, ENTQ_CODES_E4M3, 11, good, err));
    const std::vector<uint8_t> &s = good.stream;
    std::vector<entq_tile_chunk> out;
    entq_tile_head h;
    Rng rng(3);
    int refused = 0, named = 0, segment_named = 0;
    for (int trial = 0; trial < 40; trial++) {
        std::vector<uint8_t> bad = s;
        const bool payload = trial % 2 == 0;
        const uint64_t at = payload ? good.in.payload_off + rng.below((uint32_t)(bad.size() - good.in.payload_off)) : rng.below((uint32_t)bad.size());
        bad[at] ^= (uint8_t)(1 + rng.below(255));
        if (payload) entq_wr32(bad.data() + ENTQ_CRC_OFFSET, entq_stream_crc(bad.data(), bad.size()));  // CRC made to match
        err.clear();
        const bool ok = entq_tile_repack(bad.data(), bad.size(), K, N, "blk.3.attn_k.weight", out, &h, err);
        if (ok) {
            // a flipped word can still decode to valid codes only if it changed them: the layout must hold those
            Packed q;
            q.blob = out;
            q.head = h;
            entq_tile_describe(&h, reinterpret_cast<const uint8_t *>(q.blob.data()), &q.t);
            bool ends = false;
            std::vector<uint8_t> twin = twinCodes(q, ends);
            auto t = std::make_unique<entq_dtable>();
            entq_info in;
            CHECK(entq_parse(bad.data(), bad.size(), &in) == ENTQ_OK);
            entq_build_dtable(&in, bad.data(), t.get());
            std::vector<uint8_t> ref((size_t)K * N);
            CHECK(entq_decode_codes(&in, bad.data(), t.get(), 0, in.n_seg, ref.data()) == ENTQ_OK);
            CHECK(twin == ref && ends);
            continue;
        }
        refused++;
        named += err.find("tensor 'blk.3.attn_k.weight': ") == 0;
        segment_named += err.find("segment ") != std::string::npos;
    }
    CHECK(refused > 30);
    CHECK(named == refused);
    CHECK(segment_named > 5);  // payload damage behind a matching CRC: the bad segment is named
    // truncated, and the wrong shape
    err.clear();
    CHECK(!entq_tile_repack(s.data(), s.size() - 7, K, N, "w", out, &h, err) && err.find("tensor 'w': ") == 0);
    err.clear();
    CHECK(!entq_tile_repack(s.data(), s.size(), K + 1, N, "w", out, &h, err) && err.find("shape") != std::string::npos);
}
