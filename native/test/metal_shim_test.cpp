// The Metal kernels (native/metal/entq_tile.metal) compiled as C++ through
// native/metal/entq_metal_shim.h and run on the CPU, each simdgroup's 32
// threads as fibers in lock step, against the reference decoder: codes and
// f16 rows bit-exact, GEMV for 1..8 columns and the f16 + row-scale path
// within NMSE 1e-6 of an f64 product, across the CUDA tests' shapes, code
// kinds, table precisions, segment layouts and launch shapes; and the shim
// itself: converged collectives give the right sums, divergent ones are
// caught and reported.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cuda/entq_tile_repack.h"
#include "metal/entq_metal_dispatch.h"
#include "stream_corpus.h"
#include "test.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "metal/entq_metal_shim.h"
#include "metal/entq_tile.metal"
#pragma GCC diagnostic pop

using entq_test::Rng;
namespace shim = metal::shim;

// The layouts the host side and the kernels read must agree byte for byte.
static_assert(sizeof(entq_mtl_slot) == sizeof(entq_tile_slot) && offsetof(entq_mtl_slot, sym_half) == offsetof(entq_tile_slot, sym_half),
              "entq_tile.metal's slot is not entq_tile_slot");
static_assert(sizeof(entq_mtl_lane) == sizeof(entq_tile_lane) && offsetof(entq_mtl_lane, start) == offsetof(entq_tile_lane, start),
              "entq_tile.metal's lane record is not entq_tile_lane");
static_assert(sizeof(entq_mtl_tslot) == 8, "the threadgroup slot must stay 8 bytes (16 KB table at 11 bits)");

namespace {

// The codes of the tile walk, for the bit-exact check (the product decodes to f16 or into products).
struct SinkCodes {
    uchar *out;
    uint K;
    uint row;
    void symbol(uint k, entq_mtl_tslot e) { out[(ulong)row * K + k] = (uchar)(e.fbs >> 23); }
    void end_row(uint, ushort) { row++; }
};

struct Packed {
    std::vector<entq_tile_chunk> blob;
    entq_tile_head head;
    entq_info in;
    std::vector<uint8_t> stream;
    entq_metal_args args;
    const uchar *bytes() const { return reinterpret_cast<const uchar *>(blob.data()); }
};

bool pack(uint32_t K, uint32_t N, const std::vector<uint8_t> &codes, uint32_t kind, uint32_t prob_bits, uint32_t seg, Packed &p,
          std::string &err, const uint16_t *codebook = nullptr) {
    p.stream = encodeCodes(K, N, codes, kind, seg, prob_bits, codebook);
    if (p.stream.empty()) { err = "encode failed"; return false; }
    if (entq_parse(p.stream.data(), p.stream.size(), &p.in) != ENTQ_OK) { err = "parse failed"; return false; }
    if (!entq_tile_repack(p.stream.data(), p.stream.size(), K, N, "blk.0.ffn_up.weight", p.blob, &p.head, err)) return false;
    p.args = entq_metal_args_for(&p.head);
    return true;
}

// A launch as the backend makes it (entq_metal_shape), or with the given shape.
struct Launch {
    uint32_t nsg, n_tg;
};
Launch backend_launch(const Packed &p) {
    Launch l;
    entq_metal_shape(p.head.n_tiles, &l.nsg, &l.n_tg);
    return l;
}

std::string run_codes(const Packed &p, Launch l, std::vector<uint8_t> &out, bool &ends_ok) {
    out.assign((size_t)p.head.K * p.head.N, 0xAB);
    std::vector<char> lane_ok((size_t)p.head.n_tiles * 32, 0);
    const entq_metal_args a = p.args;
    const std::string err = shim::dispatch(l.n_tg, l.nsg, entq_metal_table_bytes(a.prob_bits), [&](const shim::Thread &t) {
        entq_mtl_tslot *tab = (entq_mtl_tslot *)t.smem;
        entq_mtl_load_table(a, p.bytes(), tab, t.tpitg, t.ntptg);
        for (uint tile = t.tgpig * t.nsg + t.sgitg; tile < a.n_tiles; tile += t.ntg * t.nsg) {
            SinkCodes sink{out.data(), a.K, tile * a.rows_per_tile};
            lane_ok[(size_t)tile * 32 + t.tiisg] = entq_mtl_walk(a, p.bytes(), tab, tile, t.tiisg, sink);
        }
    });
    ends_ok = std::all_of(lane_ok.begin(), lane_ok.end(), [](char c) { return c != 0; });
    return err;
}

std::string run_f16(const Packed &p, Launch l, uint32_t ld, std::vector<half> &out) {
    out.assign((size_t)p.head.N * ld, (half)NAN);
    entq_metal_args a = p.args;
    a.ldy = ld;
    return shim::dispatch(l.n_tg, l.nsg, entq_metal_table_bytes(a.prob_bits), [&](const shim::Thread &t) {
        kernel_entq_tile_f16(a, p.bytes(), out.data(), (entq_mtl_tslot *)t.smem, t.tgpig, t.ntg, t.tpitg, t.ntptg, t.tiisg, t.sgitg, t.nsg);
    });
}

std::string run_gemv(const Packed &p, Launch l, int B, const std::vector<float> &x, std::vector<float> &y) {
    entq_metal_args a = p.args;
    a.ldx = a.K;
    a.ldy = a.N;
    y.assign((size_t)B * a.N, NAN);
    return shim::dispatch(l.n_tg, l.nsg, entq_metal_table_bytes(a.prob_bits), [&](const shim::Thread &t) {
        entq_mtl_tslot *tab = (entq_mtl_tslot *)t.smem;
        switch (B) {
#define ENTQ_CASE(b) \
    case b: kernel_entq_tile_gemv_##b(a, p.bytes(), x.data(), y.data(), tab, t.tgpig, t.ntg, t.tpitg, t.ntptg, t.tiisg, t.sgitg, t.nsg); break;
            ENTQ_CASE(1) ENTQ_CASE(2) ENTQ_CASE(3) ENTQ_CASE(4) ENTQ_CASE(5) ENTQ_CASE(6) ENTQ_CASE(7) ENTQ_CASE(8)
#undef ENTQ_CASE
        }
    });
}

// y (N x B) = sum_k f16 row k x as ggml's mul_mm accumulates it (f32), then kernel_entq_scale_rows.
std::string run_f16_path(const Packed &p, int B, const std::vector<float> &x, std::vector<float> &y) {
    std::vector<half> w16;
    std::string err = run_f16(p, backend_launch(p), p.head.K, w16);
    if (!err.empty()) return err;
    const uint32_t K = p.head.K, N = p.head.N;
    y.assign((size_t)B * N, 0.0f);
    for (int c = 0; c < B; c++)
        for (uint32_t r = 0; r < N; r++) {
            float s = 0;
            for (uint32_t k = 0; k < K; k++) s += (float)w16[(size_t)r * K + k] * x[(size_t)c * K + k];
            y[(size_t)c * N + r] = s;
        }
    entq_metal_args a = p.args;
    a.ldy = N;
    a.ncols = (uint32_t)B;
    const uint32_t n_tg = (N * B + ENTQ_METAL_SCALE_THREADS - 1) / ENTQ_METAL_SCALE_THREADS;
    return shim::dispatch(n_tg, ENTQ_METAL_SCALE_THREADS / 32, 0, [&](const shim::Thread &t) { kernel_entq_scale_rows(a, p.bytes(), y.data(), t.gid); });
}

// NMSE of y (N x B) against the f64 product of the codes' values and the row scales.
double nmse(const Packed &p, const std::vector<uint8_t> &codes, int B, const std::vector<float> &x, const std::vector<float> &y) {
    const uint32_t K = p.head.K, N = p.head.N;
    double err = 0, ref2 = 0;
    for (int c = 0; c < B; c++)
        for (uint32_t r = 0; r < N; r++) {
            double s = 0;
            for (uint32_t k = 0; k < K; k++) s += (double)entq_codebook_value(&p.in, p.stream.data(), codes[(size_t)r * K + k]) * x[(size_t)c * K + k];
            s *= (double)entq_row_scale(&p.in, p.stream.data(), r);
            const double d = y[(size_t)c * N + r] - s;
            err += d * d;
            ref2 += s * s;
        }
    return ref2 > 0 ? err / ref2 : err;
}

std::vector<float> activations(uint32_t K, int B, uint64_t seed) {
    Rng rng(seed);
    std::vector<float> x((size_t)K * B);
    for (auto &v : x) v = (float)(rng.uniform() * 2 - 1);
    return x;
}

int cases_run = 0;
double worst_gemv = 0, worst_f16_path = 0;  // the largest NMSE seen, for the printed summary

// Everything the kernels must agree on, for one case.
void checkCase(const char *what, uint32_t K, uint32_t N, uint32_t kind, uint32_t prob_bits, Dist d, uint32_t seg, bool all_batches,
               const uint16_t *codebook = nullptr) {
    const std::vector<uint8_t> codes = makeCodes((uint64_t)K * N, d, kind, K * 131ull + N * 7 + prob_bits + seg);
    Packed p;
    std::string err;
    const bool ok = pack(K, N, codes, kind, prob_bits, seg, p, err, codebook);
    CHECKF(ok, "%s: repack failed: %s", what, err.c_str());
    if (!ok) return;
    cases_run++;
    CHECKF(entq_metal_table_bytes(p.head.prob_bits) <= 16384, "%s: table of %zu bytes", what, entq_metal_table_bytes(p.head.prob_bits));

    // codes: the backend's launch, one simdgroup alone, and a grid smaller than the tiles (the stride loop)
    const Launch launches[] = {backend_launch(p), {1, 1}, {3, 2}};
    for (const Launch &l : launches) {
        std::vector<uint8_t> out;
        bool ends_ok = false;
        err = run_codes(p, l, out, ends_ok);
        CHECKF(err.empty(), "%s: codes kernel: %s", what, err.c_str());
        CHECKF(out == codes, "%s: codes differ from the reference (nsg %u, %u threadgroups)", what, l.nsg, l.n_tg);
        CHECKF(ends_ok, "%s: a lane did not end at L", what);
    }

    // f16 rows (with padded rows, as a caller may ask): exactly f16(codebook value), padding untouched
    std::vector<half> f16;
    const uint32_t ld = K + 3;
    err = run_f16(p, backend_launch(p), ld, f16);
    CHECKF(err.empty(), "%s: f16 kernel: %s", what, err.c_str());
    bool f16_ok = true;
    for (uint32_t r = 0; r < N && f16_ok; r++)
        for (uint32_t k = 0; k < ld && f16_ok; k++) {
            const half v = f16[(size_t)r * ld + k];
            uint16_t bits;
            std::memcpy(&bits, &v, 2);
            f16_ok = k < K ? bits == entq_f32_to_f16(entq_codebook_value(&p.in, p.stream.data(), codes[(size_t)r * K + k])) : std::isnan((float)v);
        }
    CHECKF(f16_ok, "%s: f16 rows differ", what);

    for (int B = 1; B <= 8; B++) {
        if (!all_batches && B != 1 && B != 3 && B != 8) continue;
        const std::vector<float> x = activations(K, B, K * 7ull + N + B);
        std::vector<float> y;
        err = run_gemv(p, backend_launch(p), B, x, y);
        CHECKF(err.empty(), "%s: gemv B=%d: %s", what, B, err.c_str());
        const double e = nmse(p, codes, B, x, y);
        worst_gemv = std::max(worst_gemv, e);
        CHECKF(e < 1e-6, "%s: GEMV B=%d NMSE %.3g", what, B, e);
    }
    // the larger-batch path: f16 rows, a product as ggml's mul_mm makes it, the row scales after
    const std::vector<float> x = activations(K, 9, K + N);
    std::vector<float> y;
    err = run_f16_path(p, 9, x, y);
    CHECKF(err.empty(), "%s: scale_rows: %s", what, err.c_str());
    const double e = nmse(p, codes, 9, x, y);
    worst_f16_path = std::max(worst_f16_path, e);
    CHECKF(e < 1e-6, "%s: f16 rows + scale_rows NMSE %.3g", what, e);
}

}  // namespace

TEST(metal_shim_shapes_kinds_prob_bits) {
    cases_run = 0;
    worst_gemv = worst_f16_path = 0;
    // the CUDA twin's shapes and table precisions, and one with many tiles per threadgroup
    const uint32_t shapes[][2] = {{31, 37}, {1000, 9}, {4096, 5}, {4097, 3}, {11008, 3}, {300, 130}};
    for (auto &s : shapes)
        for (uint32_t kind : {ENTQ_CODES_E4M3, ENTQ_CODES_INT8})
            for (uint32_t pb = 8; pb <= 12; pb++) {
                char what[96];
                snprintf(what, sizeof what, "K=%u N=%u kind=%u pb=%u", s[0], s[1], kind, pb);
                checkCase(what, s[0], s[1], kind, pb, Dist::Laplace, 0, pb == 11);
            }
    printf("    [metal shim] %d cases: codes bit-exact under 3 launch shapes, f16 rows exact; worst NMSE vs f64: GEMV B=1..8 %.2e, f16 rows + scale_rows %.2e\n",
           cases_run, worst_gemv, worst_f16_path);
}

TEST(metal_shim_segment_layouts_codebooks_edge_distributions) {
    cases_run = 0;
    worst_gemv = worst_f16_path = 0;
    // the file's segment layout does not reach the kernels (the layout is re-encoded), but the repack reads every one
    for (uint32_t seg : {32u, 1000u, 4096u}) {
        char what[96];
        snprintf(what, sizeof what, "segments of %u symbols", seg);
        checkCase(what, 1000, 17, ENTQ_CODES_E4M3, 11, Dist::Laplace, seg, false);
    }
    // a custom codebook (f16 values stored in the stream)
    std::vector<uint16_t> book(256);
    Rng rng(17);
    for (auto &v : book) v = entq_f32_to_f16((float)(rng.uniform() * 4 - 2));
    checkCase("custom codebook", 700, 20, ENTQ_CODES_CUSTOM, 11, Dist::Laplace, 0, false, book.data());
    // one symbol, a rare second one, all 256, and file tables wider than the layout's (renormalised)
    for (Dist d : {Dist::One, Dist::TwoRare, Dist::All256, Dist::Uniform})
        for (uint32_t pb : {8u, 13u, 14u}) {
            char what[96];
            snprintf(what, sizeof what, "dist=%d pb=%u", (int)d, pb);
            checkCase(what, 1000, 17, ENTQ_CODES_INT8, pb, d, 0, false);
            checkCase(what, 64, 65, ENTQ_CODES_E4M3, pb, d, 0, false);
        }
    printf("    [metal shim] %d cases with other segment layouts, a custom codebook and edge distributions; worst NMSE: GEMV %.2e, f16 rows + scale_rows %.2e\n",
           cases_run, worst_gemv, worst_f16_path);
}

TEST(metal_shim_collectives_converged_and_divergent) {
    // converged: every lane gets the simdgroup's sum; barriers order threadgroup memory
    std::vector<float> sums(2 * 64, 0.0f);
    std::string err = shim::dispatch(2, 2, 64 * sizeof(float), [&](const shim::Thread &t) {
        float *tg = (float *)t.smem;
        tg[t.tpitg] = (float)(t.tpitg + 1);
        threadgroup_barrier(mem_flags::mem_threadgroup);
        const float mine = tg[(t.tpitg + 32) % 64];  // written by the other simdgroup
        sums[t.gid] = simd_sum(mine);
    });
    CHECKF(err.empty(), "converged kernel reported: %s", err.c_str());
    // simdgroup 0 reads threads 33..64's values, simdgroup 1 reads 1..32's
    CHECK(sums[0] == 1552.0f && sums[31] == 1552.0f && sums[32] == 528.0f && sums[127] == 528.0f);

    // half the lanes skip the simd_sum
    err = shim::dispatch(1, 2, 0, [&](const shim::Thread &t) {
        float v = 1.0f;
        if (t.sgitg == 1 && t.tiisg < 16) v = simd_sum(v);
        sums[t.gid] = v;
    });
    printf("    [metal shim] caught: %s\n", err.c_str());
    CHECKF(err.find("divergent simd_sum") != std::string::npos && err.find("simdgroup 1") != std::string::npos &&
               err.find("lanes 0-15 wait there, lanes 16-31 are elsewhere (lane 16 returned)") != std::string::npos,
           "half-simdgroup simd_sum not reported as expected: '%s'", err.c_str());

    // even and odd lanes at two different simd_sums
    err = shim::dispatch(1, 1, 0, [&](const shim::Thread &t) {
        if (t.tiisg % 2) sums[t.gid] = simd_sum(1.0f);
        else sums[t.gid] = simd_sum(2.0f);
    });
    printf("    [metal shim] caught: %s\n", err.c_str());
    CHECKF(err.find("divergent simd_sum") != std::string::npos && err.find("at simd_sum (metal_shim_test.cpp:") != std::string::npos,
           "two simd_sum sites not reported: '%s'", err.c_str());

    // one simdgroup skips a barrier
    err = shim::dispatch(1, 2, 0, [&](const shim::Thread &t) {
        if (t.sgitg == 0) threadgroup_barrier(mem_flags::mem_threadgroup);
    });
    printf("    [metal shim] caught: %s\n", err.c_str());
    CHECKF(err.find("divergent threadgroup_barrier") != std::string::npos && err.find("threads 0-31 wait there, threads 32-63") != std::string::npos,
           "skipped barrier not reported: '%s'", err.c_str());

    // a divergence inside the GEMV's row end (a lane that leaves its tile early) is caught the same way
    const uint32_t K = 100, N = 6;
    const std::vector<uint8_t> codes = makeCodes((uint64_t)K * N, Dist::Laplace, ENTQ_CODES_E4M3, 5);
    Packed p;
    CHECK(pack(K, N, codes, ENTQ_CODES_E4M3, 11, 0, p, err));
    std::vector<float> x = activations(K, 1, 3), y(N);
    entq_metal_args a = p.args;
    a.ldx = K;
    a.ldy = N;
    err = shim::dispatch(1, 1, entq_metal_table_bytes(a.prob_bits), [&](const shim::Thread &t) {
        entq_mtl_tslot *tab = (entq_mtl_tslot *)t.smem;
        entq_mtl_load_table(a, p.bytes(), tab, t.tpitg, t.ntptg);
        entq_metal_args mine = a;
        if (t.tiisg == 7) mine.N = a.rows_per_tile - 1;  // lane 7 sees one row fewer
        entq_mtl_sink_gemv<1> sink{x.data(), y.data(), (const half *)(p.bytes() + a.scales_off), a.ldx, a.ldy, a.scale_base, {0.0f}};
        entq_mtl_walk(mine, p.bytes(), tab, 0, t.tiisg, sink);
    });
    printf("    [metal shim] caught: %s\n", err.c_str());
    CHECKF(err.find("divergent simd_sum at entq_tile.metal:") != std::string::npos && err.find("lane 7 returned") != std::string::npos,
           "a lane leaving the walk early not reported: '%s'", err.c_str());
}
