/* gpu_check.cu - the GPU check for the ENTQ CUDA kernels (scripts/gpu-check.sh
 * builds and runs it on a machine with a GPU; no Node, no network).
 *
 * 1. Correctness: seeded heavy-tailed weights -> per-row scales -> INT8/E4M3
 *    codes at ~2.5 bits -> entq_encode -> device. The codes kernel must give
 *    the encoder's codes exactly; the GEMV (batch 1..8, and 32/512 in groups
 *    of 8) and the large-batch path (decode to f16 + GEMM, + row scales) are
 *    compared with an f64 product of the reference's dequantised weights by
 *    NMSE, outputs poisoned with NaN first; the GEMV also bit-exact with the
 *    CPU twin (entq_lane.h, entq_warp_cpu) where the twin is quick; a corrupt
 *    segment must be reported, not crash.
 *    The same for the lane-stream layout (entq_tile.h, repacked from each
 *    stream by entq_tile_repack.h as the ggml glue does): codes bit-exact,
 *    GEMV NMSE and bit-exact with its CPU twin, f16 rows exact.
 * 2. Speed: median of CUDA-event timings over rotating copies of each stream
 *    (more bytes than L2 holds, so weights come from memory as they would in
 *    a model), against plain int8 and f16 GEMVs reading uncompressed weights;
 *    the old kernels (stream in place) and the lane-stream ones side by side.
 * Exit status: 0 when every check passed. */
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <cuda_fp16.h>

#ifdef ENTQ_HAVE_CUBLAS
#include <cublas_v2.h>
#endif

#include "cuda/entq_cuda.h"
#include "cuda/entq_lane_sinks.h"
#include "cuda/entq_tile_cuda.h"
#include "cuda/entq_tile_repack.h"
#include "quant/entq_e4m3.h"
#include "quant/entq_int8.h"
#include "stream/entq_decode.h"
#include "stream/entq_encode.h"

#define CK(call)                                                                                      \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess) {                                                                      \
            std::fprintf(stderr, "CUDA error %s at %s:%d: %s\n", cudaGetErrorString(e_), __FILE__, __LINE__, #call); \
            std::exit(2);                                                                             \
        }                                                                                             \
    } while (0)

namespace {

int g_failures = 0;
int g_reps = 200; /* timed launches per median */
std::vector<std::string> g_table; /* the summary printed last */

void fail(const char *what) {
    std::printf("FAIL %s\n", what);
    g_failures++;
}

/* ---- synthetic weights, codes, stream ---- */

struct Coded {
    uint32_t K, N, kind;
    std::vector<uint8_t> codes;
    std::vector<uint32_t> store; /* the stream, 4-aligned */
    uint64_t size;
    entq_info in;
    std::vector<entq_lane_slot> slots;
    std::vector<uint8_t> sym;
    std::vector<float> w; /* dequantised reference weights, N x K */
    double bits_per_weight, code_entropy;
    const uint8_t *bytes() const { return (const uint8_t *)store.data(); }
};

double entropyOf(const std::vector<uint8_t> &c) {
    uint64_t counts[256] = {0};
    for (uint8_t v : c) counts[v]++;
    return entq_entropy_bits(counts);
}

/* Student-t (nu = 4) weights with log-normal row spreads: heavy tails like LLM weights. */
std::vector<float> makeWeights(uint32_t N, uint32_t K, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::student_t_distribution<float> t(4.0f);
    std::normal_distribution<float> spread(0.0f, 0.3f);
    std::vector<float> w((size_t)N * K);
    for (uint32_t r = 0; r < N; r++) {
        const float s = 0.02f * std::exp(spread(rng));
        for (uint32_t k = 0; k < K; k++) w[(size_t)r * K + k] = s * t(rng);
    }
    return w;
}

uint8_t quantOne(float v, uint32_t kind) { return kind == ENTQ_CODES_E4M3 ? entq_f32_to_e4m3(v) : entq_f32_to_int8(v); }

/* Codes with one scale per row, alpha * rms(row) (x 2^9 for E4M3, whose grid
 * near zero has step 2^-9), alpha set by bisection for ~`bits` of entropy. */
Coded makeCoded(uint32_t N, uint32_t K, uint32_t kind, uint32_t segment_symbols, uint32_t prob_bits, double bits,
                uint64_t seed) {
    Coded c;
    c.K = K;
    c.N = N;
    c.kind = kind;
    std::vector<float> w = makeWeights(N, K, seed);
    std::vector<float> rms(N);
    for (uint32_t r = 0; r < N; r++) {
        double s = 0;
        for (uint32_t k = 0; k < K; k++) s += (double)w[(size_t)r * K + k] * w[(size_t)r * K + k];
        rms[r] = (float)std::sqrt(s / K) * (kind == ENTQ_CODES_E4M3 ? 512.0f : 1.0f);
    }
    auto codesFor = [&](double alpha, uint64_t limit, std::vector<uint8_t> &out) {
        const uint64_t n = std::min<uint64_t>((uint64_t)N * K, limit);
        out.resize(n);
        for (uint64_t i = 0; i < n; i++) out[i] = quantOne(w[i] / (float)(alpha * rms[i / K]), kind);
    };
    double lo = 0.01, hi = 100;
    std::vector<uint8_t> sample;
    for (int it = 0; it < 40; it++) {
        const double mid = std::sqrt(lo * hi);
        codesFor(mid, 1u << 20, sample);
        (entropyOf(sample) > bits ? lo : hi) = mid; /* a larger scale gives fewer bits */
    }
    codesFor(std::sqrt(lo * hi), UINT64_MAX, c.codes);
    c.code_entropy = entropyOf(c.codes);
    /* row scales: f16 relative to a power-of-two base */
    std::vector<float> srow(N);
    for (uint32_t r = 0; r < N; r++) srow[r] = (float)(std::sqrt(lo * hi) * rms[r]);
    std::vector<float> sorted = srow;
    std::nth_element(sorted.begin(), sorted.begin() + N / 2, sorted.end());
    const float base = std::exp2(std::round(std::log2(sorted[N / 2])));
    std::vector<uint16_t> scales(N);
    for (uint32_t r = 0; r < N; r++) scales[r] = entq_f32_to_f16(srow[r] / base);
    entq_params p = {kind, nullptr, base, scales.data(), segment_symbols, prob_bits};
    entq_plan_t plan;
    if (entq_plan(K, N, c.codes.data(), &p, &plan) != ENTQ_OK) std::abort();
    c.store.assign((entq_encode_bound(&plan) + 3) / 4, 0);
    if (entq_encode(&plan, c.codes.data(), (uint8_t *)c.store.data(), &c.size) != ENTQ_OK) std::abort();
    if (entq_parse(c.bytes(), c.size, &c.in) != ENTQ_OK) std::abort();
    c.slots.resize((size_t)1 << c.in.prob_bits);
    c.sym.resize((size_t)1 << c.in.prob_bits);
    entq_lane_build_table(&c.in, c.bytes(), c.slots.data(), c.sym.data());
    auto t = std::make_unique<entq_dtable>();
    entq_build_dtable(&c.in, c.bytes(), t.get());
    c.w.resize((size_t)N * K);
    std::vector<uint8_t> row(K);
    if (entq_decode_dequantize(&c.in, c.bytes(), t.get(), 0, c.in.n_seg, c.w.data(), row.data()) != ENTQ_OK) std::abort();
    c.bits_per_weight = 8.0 * (double)c.size / ((double)N * K);
    return c;
}

/* The stream, its table and symbols on the device. */
struct DevTensor {
    uint8_t *stream = nullptr;
    entq_lane_slot *table = nullptr;
    uint8_t *sym = nullptr;
    entq_cuda_tensor t;
    void upload(const Coded &c, const uint8_t *stream_bytes) {
        CK(cudaMalloc(&stream, c.size));
        CK(cudaMemcpy(stream, stream_bytes, c.size, cudaMemcpyHostToDevice));
        CK(cudaMalloc(&table, c.slots.size() * sizeof(entq_lane_slot)));
        CK(cudaMemcpy(table, c.slots.data(), c.slots.size() * sizeof(entq_lane_slot), cudaMemcpyHostToDevice));
        CK(cudaMalloc(&sym, c.sym.size()));
        CK(cudaMemcpy(sym, c.sym.data(), c.sym.size(), cudaMemcpyHostToDevice));
        if (entq_cuda_describe(&c.in, stream, table, sym, &t) != ENTQ_OK) std::abort();
    }
    void release() {
        cudaFree(stream);
        cudaFree(table);
        cudaFree(sym);
    }
};

/* The stream repacked into the lane-stream layout, on the device (and its host copy for the twin). */
struct DevTile {
    std::vector<entq_tile_chunk> blob;
    entq_tile_head head;
    entq_tile_tensor t, host;
    uint8_t *dev = nullptr;
    void upload(const Coded &c) {
        std::string err;
        if (!entq_tile_repack(c.bytes(), c.size, c.K, c.N, "gpu_check", blob, &head, err)) {
            std::fprintf(stderr, "repack: %s\n", err.c_str());
            std::exit(2);
        }
        uploadFrom(*this);
        entq_tile_describe(&head, (const uint8_t *)blob.data(), &host);
    }
    /* another device copy of src's layout (host twin: src's) */
    void uploadFrom(const DevTile &src) {
        head = src.head;
        host = src.host;
        CK(cudaMalloc(&dev, head.size));
        CK(cudaMemcpy(dev, src.blob.data(), head.size, cudaMemcpyHostToDevice));
        entq_tile_describe(&head, dev, &t);
    }
    double bitsPerWeight() const { return 8.0 * (double)head.size / ((double)head.K * head.N); }
    void release() { cudaFree(dev); }
};

/* The lane-stream kernels' CPU twin: B <= 8 columns. */
template <int B> void twinTileGemv(const DevTile &d, const float *x, uint32_t ldx, float *y, uint32_t ldy) {
    for (uint32_t tile = 0; tile < d.host.n_tiles; tile++) {
        entq_tile_sink_gemv<entq_warp_cpu, B> sink(x, ldx, y, ldy, d.host.scales, d.host.scale_base);
        if (!entq_tile_walk<entq_warp_cpu>(d.host, d.host.table, tile, sink)) std::abort();
    }
}

void twinTileGemvCols(const DevTile &d, const std::vector<float> &x, uint32_t B, std::vector<float> &y) {
    const uint32_t K = d.host.K, N = d.host.N;
    y.assign((size_t)N * B, NAN);
    for (uint32_t c0 = 0; c0 < B; c0 += 8) {
        const uint32_t nc = std::min(8u, B - c0);
        const float *xc = x.data() + (size_t)c0 * K;
        float *yc = y.data() + (size_t)c0 * N;
        switch (nc) {
        case 1: twinTileGemv<1>(d, xc, K, yc, N); break;
        case 2: twinTileGemv<2>(d, xc, K, yc, N); break;
        case 3: twinTileGemv<3>(d, xc, K, yc, N); break;
        case 4: twinTileGemv<4>(d, xc, K, yc, N); break;
        case 5: twinTileGemv<5>(d, xc, K, yc, N); break;
        case 6: twinTileGemv<6>(d, xc, K, yc, N); break;
        case 7: twinTileGemv<7>(d, xc, K, yc, N); break;
        case 8: twinTileGemv<8>(d, xc, K, yc, N); break;
        }
    }
}

/* ---- references ---- */

/* f64 y[c * N + r] from the dequantised weights; x column-major, ld K. */
std::vector<double> refProduct(const Coded &c, const std::vector<float> &x, uint32_t B) {
    std::vector<double> y((size_t)c.N * B);
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t r = 0; r < (int64_t)c.N; r++)
        for (uint32_t b = 0; b < B; b++) {
            const float *wr = c.w.data() + (size_t)r * c.K, *xb = x.data() + (size_t)b * c.K;
            double s = 0;
            for (uint32_t k = 0; k < c.K; k++) s += (double)wr[k] * xb[k];
            y[(size_t)b * c.N + r] = s;
        }
    return y;
}

/* NMSE of got against ref; NaN (an unwritten output) gives infinity. */
double nmse(const std::vector<float> &got, const std::vector<double> &ref) {
    double e = 0, n = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        if (!std::isfinite(got[i])) return INFINITY;
        e += (got[i] - ref[i]) * (got[i] - ref[i]);
        n += ref[i] * ref[i];
    }
    return n > 0 ? e / n : e;
}

/* The CPU twin's GEMV (the kernel's schedule and arithmetic). */
template <int B> void twinGemv(const Coded &c, const float *x, float *y) {
    const uint16_t *scales = (const uint16_t *)(c.bytes() + c.in.scales_off);
    std::vector<uint16_t> ring(ENTQ_RING_ALLOC_WORDS);
    for (uint32_t seg = 0; seg < c.in.n_seg; seg++) {
        uint64_t start, end;
        entq_segment_range(&c.in, c.bytes(), seg, &start, &end);
        entq_lane_dec<entq_warp_cpu> d;
        d.init(c.bytes() + start, (uint32_t)(end - start), ring.data());
        const uint32_t r0 = seg * c.in.rows_per_seg;
        entq_sink_gemv<entq_warp_cpu, B> sink(x, c.K, y + r0, c.N, scales + r0, c.in.scale_base);
        if (entq_lane_walk(d, entq_lane_table{c.slots.data()}, c.in.prob_bits, c.K, entq_segment_rows(&c.in, seg), sink) != ENTQ_OK)
            std::abort();
    }
}

void twinGemvCols(const Coded &c, const std::vector<float> &x, uint32_t B, std::vector<float> &y) {
    y.assign((size_t)c.N * B, NAN);
    for (uint32_t c0 = 0; c0 < B; c0 += 8) {
        const uint32_t nc = std::min(8u, B - c0);
        const float *xc = x.data() + (size_t)c0 * c.K;
        float *yc = y.data() + (size_t)c0 * c.N;
        switch (nc) {
        case 1: twinGemv<1>(c, xc, yc); break;
        case 2: twinGemv<2>(c, xc, yc); break;
        case 3: twinGemv<3>(c, xc, yc); break;
        case 4: twinGemv<4>(c, xc, yc); break;
        case 5: twinGemv<5>(c, xc, yc); break;
        case 6: twinGemv<6>(c, xc, yc); break;
        case 7: twinGemv<7>(c, xc, yc); break;
        case 8: twinGemv<8>(c, xc, yc); break;
        }
    }
}

/* ---- the large-batch path ---- */

struct BigBatch {
    uint16_t *wf16 = nullptr, *xf16 = nullptr;
    uint32_t ld = 0;
#ifdef ENTQ_HAVE_CUBLAS
    cublasHandle_t blas = nullptr;
#endif
    void alloc(uint32_t N, uint32_t K, uint32_t B) {
        ld = (K + 7) / 8 * 8;
        CK(cudaMalloc(&wf16, (size_t)N * ld * 2));
        CK(cudaMemset(wf16, 0, (size_t)N * ld * 2)); /* padding columns stay zero */
        CK(cudaMalloc(&xf16, (size_t)B * ld * 2));
#ifdef ENTQ_HAVE_CUBLAS
        if (cublasCreate(&blas) != CUBLAS_STATUS_SUCCESS) std::abort();
#endif
    }
    void release() {
        cudaFree(wf16);
        cudaFree(xf16);
#ifdef ENTQ_HAVE_CUBLAS
        cublasDestroy(blas);
#endif
    }
    /* y = W x: decode W to f16 rows, x to f16, GEMM, row scales. */
    void run(const entq_cuda_tensor &t, const float *x, float *y, uint32_t B, int *status, bool cublas) {
        CK(entq_cuda_decode_f16(&t, wf16, ld, status, 0));
        CK(entq_cuda_f32_to_f16(x, t.K, xf16, ld, t.K, B, 0));
        gemm(t.N, B, y, cublas);
        CK(entq_cuda_scale_rows(&t, y, t.N, B, 0));
    }
    void gemm(uint32_t N, uint32_t B, float *y, bool cublas) {
#ifdef ENTQ_HAVE_CUBLAS
        if (cublas) {
            const float one = 1.0f, zero = 0.0f;
            /* column-major: C (N x B) = A^T (A is ld x N: our rows) * X (ld x B) */
            if (cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, N, B, ld, &one, wf16, CUDA_R_16F, ld, xf16, CUDA_R_16F, ld,
                             &zero, y, CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) != CUBLAS_STATUS_SUCCESS)
                std::abort();
            return;
        }
#endif
        (void)cublas;
        CK(entq_cuda_gemm_f16(wf16, ld, xf16, ld, y, N, N, B, ld, 0));
    }
};

bool haveCublas() {
#ifdef ENTQ_HAVE_CUBLAS
    return true;
#else
    return false;
#endif
}

/* ---- correctness ---- */

int readStatus(int *d_status, int *bad_seg = nullptr) {
    int h[2];
    CK(cudaMemcpy(h, d_status, sizeof(h), cudaMemcpyDeviceToHost));
    if (bad_seg) *bad_seg = h[1];
    return h[0];
}

void checkCase(uint32_t N, uint32_t K, uint32_t kind, uint32_t seg_syms, uint32_t prob_bits, std::vector<uint32_t> batches,
               uint64_t seed, bool twin) {
    Coded c = makeCoded(N, K, kind, seg_syms, prob_bits, 2.5, seed);
    char name[160];
    std::snprintf(name, sizeof(name), "%ux%u %s seg=%u rows/seg=%u pb=%u %.2f b/w", N, K,
                  kind == ENTQ_CODES_E4M3 ? "E4M3" : "INT8", c.in.n_seg, c.in.rows_per_seg, c.in.prob_bits,
                  c.bits_per_weight);
    DevTensor d;
    d.upload(c, c.bytes());
    int *status;
    CK(cudaMalloc(&status, 2 * sizeof(int)));

    /* codes, bit-exact */
    uint8_t *dcodes;
    CK(cudaMalloc(&dcodes, (size_t)N * K));
    CK(cudaMemset(dcodes, 0xAB, (size_t)N * K));
    CK(entq_cuda_status_reset(status, 0));
    CK(entq_cuda_decode_codes(&d.t, dcodes, status, 0));
    CK(cudaDeviceSynchronize());
    std::vector<uint8_t> got((size_t)N * K);
    CK(cudaMemcpy(got.data(), dcodes, got.size(), cudaMemcpyDeviceToHost));
    const bool codes_ok = readStatus(status) == ENTQ_OK && got == c.codes;
    std::printf("case %s: codes %s\n", name, codes_ok ? "bit-exact" : "DIFFER");
    if (!codes_ok) fail(name);
    CK(cudaFree(dcodes));

    const uint32_t Bmax = *std::max_element(batches.begin(), batches.end());
    float *dx, *dy;
    CK(cudaMalloc(&dx, (size_t)K * Bmax * 4));
    CK(cudaMalloc(&dy, (size_t)N * Bmax * 4));
    BigBatch big;
    big.alloc(N, K, Bmax);
    std::mt19937_64 rng(seed * 7 + 1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (uint32_t B : batches) {
        std::vector<float> x((size_t)K * B), y((size_t)N * B);
        for (auto &v : x) v = nd(rng); /* fresh inputs per check */
        const std::vector<double> ref = refProduct(c, x, B);
        CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
        struct Path {
            const char *name;
            int which;
        } paths[] = {{"gemv", 0}, {"f16+wmma", 1}, {"f16+cublas", 2}};
        for (const Path &p : paths) {
            if (p.which == 2 && !haveCublas()) continue;
            if (p.which == 0 && B > 32) continue; /* groups of 8 re-decode: checked up to 32 */
            if (p.which > 0 && B < 8) continue;
            CK(cudaMemset(dy, 0xFF, (size_t)N * B * 4)); /* NaN poison */
            CK(entq_cuda_status_reset(status, 0));
            if (p.which == 0) CK(entq_cuda_gemv(&d.t, dx, K, dy, N, B, status, 0));
            else big.run(d.t, dx, dy, B, status, p.which == 2);
            CK(cudaGetLastError());
            CK(cudaDeviceSynchronize());
            CK(cudaMemcpy(y.data(), dy, y.size() * 4, cudaMemcpyDeviceToHost));
            const int st = readStatus(status);
            const double e = nmse(y, ref);
            const char *exact = "";
            if (p.which == 0 && twin) {
                std::vector<float> ty;
                twinGemvCols(c, x, B, ty);
                const bool same = memcmp(ty.data(), y.data(), y.size() * 4) == 0;
                exact = same ? ", bit-exact with CPU twin" : ", DIFFERS FROM CPU TWIN";
                if (!same) fail(name);
            }
            /* f16 activations in the GEMM path: ~1e-7 expected; f32 GEMV: ~1e-13 */
            const double limit = 1e-6;
            std::printf("  B=%-3u %-11s NMSE %.3e status %d%s\n", B, p.name, e, st, exact);
            char row[200];
            std::snprintf(row, sizeof(row), "| %-34s | %3u | %-10s | %.2e | %s |", name, B, p.name, e,
                          (e < limit && st == ENTQ_OK) ? "ok" : "FAIL");
            g_table.push_back(row);
            if (!(e < limit) || st != ENTQ_OK) fail(name);
        }
    }
    /* the lane-stream layout: codes, f16 rows, GEMV (NMSE, and bit-exact with its twin) */
    {
        DevTile dt;
        dt.upload(c);
        char tname[200];
        std::snprintf(tname, sizeof(tname), "%s -> tiles rows/tile=%u pb=%u %.2f b/w", name, dt.head.rows_per_tile,
                      dt.head.prob_bits, dt.bitsPerWeight());
        uint8_t *tc;
        CK(cudaMalloc(&tc, (size_t)N * K));
        CK(cudaMemset(tc, 0xAB, (size_t)N * K));
        CK(entq_tile_cuda_decode_codes(&dt.t, tc, 0));
        CK(cudaDeviceSynchronize());
        std::vector<uint8_t> tgot((size_t)N * K);
        CK(cudaMemcpy(tgot.data(), tc, tgot.size(), cudaMemcpyDeviceToHost));
        CK(cudaFree(tc));
        uint16_t *tf;
        CK(cudaMalloc(&tf, (size_t)N * K * 2));
        CK(entq_tile_cuda_decode_f16(&dt.t, tf, K, 0));
        CK(cudaDeviceSynchronize());
        std::vector<uint16_t> hf((size_t)N * K);
        CK(cudaMemcpy(hf.data(), tf, hf.size() * 2, cudaMemcpyDeviceToHost));
        CK(cudaFree(tf));
        bool f16_ok = true;
        const uint16_t *srow = (const uint16_t *)(c.bytes() + c.in.scales_off);
        (void)srow;
        for (size_t i = 0; i < hf.size() && f16_ok; i++)
            f16_ok = hf[i] == entq_f32_to_f16(entq_codebook_value(&c.in, c.bytes(), c.codes[i]));
        const bool tcodes_ok = tgot == c.codes;
        std::printf("case %s: codes %s, f16 rows %s\n", tname, tcodes_ok ? "bit-exact" : "DIFFER", f16_ok ? "exact" : "DIFFER");
        if (!tcodes_ok || !f16_ok) fail(tname);
        for (uint32_t B : batches) {
            if (B > 32) continue;
            std::vector<float> x((size_t)K * B), y((size_t)N * B);
            for (auto &v : x) v = nd(rng);
            const std::vector<double> ref = refProduct(c, x, B);
            CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
            CK(cudaMemset(dy, 0xFF, (size_t)N * B * 4));
            CK(entq_tile_cuda_gemv(&dt.t, dx, K, dy, N, B, 0));
            CK(cudaGetLastError());
            CK(cudaDeviceSynchronize());
            CK(cudaMemcpy(y.data(), dy, y.size() * 4, cudaMemcpyDeviceToHost));
            const double e = nmse(y, ref);
            const char *exact = "";
            if (twin) {
                std::vector<float> ty;
                twinTileGemvCols(dt, x, B, ty);
                const bool same = memcmp(ty.data(), y.data(), y.size() * 4) == 0;
                exact = same ? ", bit-exact with CPU twin" : ", DIFFERS FROM CPU TWIN";
                if (!same) fail(tname);
            }
            std::printf("  B=%-3u tile gemv   NMSE %.3e%s\n", B, e, exact);
            char row[240];
            std::snprintf(row, sizeof(row), "| %-34s | %3u | tile gemv  | %.2e | %s |", tname, B, e, e < 1e-6 ? "ok" : "FAIL");
            g_table.push_back(row);
            if (!(e < 1e-6)) fail(tname);
        }
        dt.release();
    }

    big.release();
    CK(cudaFree(dx));
    CK(cudaFree(dy));

    /* a flipped payload byte: the reference's verdict, reported as status, no crash */
    if (twin) {
        std::vector<uint32_t> bad = c.store;
        uint8_t *b = (uint8_t *)bad.data();
        const uint64_t at = c.in.payload_off + (c.size - c.in.payload_off) / 2;
        b[at] ^= 0x5A;
        auto t = std::make_unique<entq_dtable>();
        entq_build_dtable(&c.in, b, t.get());
        std::vector<uint8_t> refc((size_t)N * K);
        const int ref_st = entq_decode_codes(&c.in, b, t.get(), 0, c.in.n_seg, refc.data());
        DevTensor dbad;
        dbad.upload(c, b);
        float *y1;
        float *x1;
        CK(cudaMalloc(&y1, (size_t)N * 4));
        CK(cudaMalloc(&x1, (size_t)K * 4));
        CK(cudaMemset(x1, 0, (size_t)K * 4));
        CK(entq_cuda_status_reset(status, 0));
        CK(entq_cuda_gemv(&dbad.t, x1, K, y1, N, 1, status, 0));
        CK(cudaDeviceSynchronize());
        int bad_seg = 0;
        const int st = readStatus(status, &bad_seg);
        std::printf("  corrupt byte %llu: reference %s, GPU status %d (%s) first bad segment %d\n",
                    (unsigned long long)at, entq_status_str(ref_st), st, entq_status_str(st), bad_seg);
        if (st != ref_st) fail("corrupt stream status");
        CK(cudaFree(y1));
        CK(cudaFree(x1));
        dbad.release();
    }
    CK(cudaFree(status));
    d.release();
}

/* ---- timing ---- */

template <class F> double medianUs(F launch, int reps) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (int i = 0; i < std::min(10, reps); i++) launch(i); /* warm-up */
    CK(cudaDeviceSynchronize());
    std::vector<float> ms(reps);
    for (int i = 0; i < reps; i++) {
        CK(cudaEventRecord(a));
        launch(i);
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&ms[i], a, b));
    }
    CK(cudaGetLastError());
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    std::sort(ms.begin(), ms.end());
    return 1000.0 * ms[reps / 2];
}

/* Copies of a buffer of `bytes` so that one round moves more than 3x L2. */
int copiesFor(uint64_t bytes, int l2) { return (int)std::max<uint64_t>(2, (3ull * l2 + bytes - 1) / bytes); }

/* Baselines: a warp per row, 16-byte loads, four in flight per lane. */
__global__ void gemv_int8_kernel(const int8_t *__restrict__ W, const float *__restrict__ scale,
                                 const float *__restrict__ x, float *__restrict__ y, uint32_t N, uint32_t K) {
    const uint32_t row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    const int4 *w = (const int4 *)(W + (size_t)row * K);
    const uint32_t n16 = K / 16;
    float acc = 0;
    for (uint32_t i0 = lane; i0 < n16; i0 += 128) {
        int4 v[4];
#pragma unroll
        for (int u = 0; u < 4; u++) v[u] = i0 + 32 * u < n16 ? __ldg(w + i0 + 32 * u) : make_int4(0, 0, 0, 0);
#pragma unroll
        for (int u = 0; u < 4; u++) {
            if (i0 + 32 * u >= n16) break;
            const float4 *xv = (const float4 *)(x + 16 * (i0 + 32 * u));
            const int8_t *q = (const int8_t *)&v[u];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float4 xx = __ldg(xv + j);
                acc += q[4 * j] * xx.x + q[4 * j + 1] * xx.y + q[4 * j + 2] * xx.z + q[4 * j + 3] * xx.w;
            }
        }
    }
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) y[row] = acc * scale[row];
}

__global__ void gemv_f16_kernel(const __half *__restrict__ W, const float *__restrict__ x, float *__restrict__ y,
                                uint32_t N, uint32_t K) {
    const uint32_t row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (row >= N) return;
    const int4 *w = (const int4 *)(W + (size_t)row * K);
    const uint32_t n8 = K / 8;
    float acc = 0;
    for (uint32_t i0 = lane; i0 < n8; i0 += 128) {
        int4 v[4];
#pragma unroll
        for (int u = 0; u < 4; u++) v[u] = i0 + 32 * u < n8 ? __ldg(w + i0 + 32 * u) : make_int4(0, 0, 0, 0);
#pragma unroll
        for (int u = 0; u < 4; u++) {
            if (i0 + 32 * u >= n8) break;
            const __half2 *h = (const __half2 *)&v[u];
            const float4 *xv = (const float4 *)(x + 8 * (i0 + 32 * u));
            float4 x0 = __ldg(xv), x1 = __ldg(xv + 1);
            float2 a = __half22float2(h[0]), b = __half22float2(h[1]), c = __half22float2(h[2]), d = __half22float2(h[3]);
            acc += a.x * x0.x + a.y * x0.y + b.x * x0.z + b.y * x0.w + c.x * x1.x + c.y * x1.y + d.x * x1.z + d.y * x1.w;
        }
    }
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) y[row] = acc;
}

__global__ void copy_kernel(const int4 *__restrict__ a, int4 *__restrict__ b, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) b[i] = a[i];
}

/* One timed stream layout: segment target, prob_bits (0: the encoder's choice). */
struct Layout {
    uint32_t seg, prob_bits;
};

void timeShape(uint32_t N, uint32_t K, const std::vector<Layout> &layouts, int l2) {
    std::mt19937_64 rng(N * 131 + K);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    float *dx, *dy;
    CK(cudaMalloc(&dx, (size_t)K * 8 * 4));
    CK(cudaMalloc(&dy, (size_t)N * 8 * 4));
    std::vector<float> x((size_t)K * 8);
    for (auto &v : x) v = nd(rng);
    CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
    int *status;
    CK(cudaMalloc(&status, 2 * sizeof(int)));
    const double weights = (double)N * K;
    const int reps = g_reps;

    /* baselines: int8 + row scale, f16 (uncompressed bytes, memory-bound) */
    {
        const uint64_t b8 = (uint64_t)N * K;
        const int n8 = copiesFor(b8, l2);
        std::vector<int8_t *> w8(n8);
        std::vector<int8_t> h8(b8);
        for (auto &v : h8) v = (int8_t)(rng() % 7) - 3;
        for (auto &p : w8) {
            CK(cudaMalloc(&p, b8));
            CK(cudaMemcpy(p, h8.data(), b8, cudaMemcpyHostToDevice));
        }
        float *sc;
        CK(cudaMalloc(&sc, N * 4));
        CK(cudaMemset(sc, 0, N * 4));
        const double us8 = medianUs([&](int i) { gemv_int8_kernel<<<(N + 7) / 8, 256>>>(w8[i % n8], sc, dx, dy, N, K); }, reps);
        for (auto p : w8) CK(cudaFree(p));
        CK(cudaFree(sc));
        const uint64_t b16 = 2ull * N * K;
        const int n16 = copiesFor(b16, l2);
        std::vector<__half *> w16(n16);
        std::vector<__half> h16(b16 / 2);
        for (auto &v : h16) v = __float2half(nd(rng));
        for (auto &p : w16) {
            CK(cudaMalloc(&p, b16));
            CK(cudaMemcpy(p, h16.data(), b16, cudaMemcpyHostToDevice));
        }
        const double us16 = medianUs([&](int i) { gemv_f16_kernel<<<(N + 7) / 8, 256>>>(w16[i % n16], dx, dy, N, K); }, reps);
        for (auto p : w16) CK(cudaFree(p));
        char row[240];
        std::snprintf(row, sizeof(row), "| %5ux%-5u | int8 GEMV B=1 (baseline)                 |  8.00 |  - |  - | %8.1f | %6.0f | %6.1f |", N, K,
                      us8, b8 / us8 / 1e3, weights / us8 / 1e3);
        g_table.push_back(row);
        std::snprintf(row, sizeof(row), "| %5ux%-5u | f16 GEMV B=1 (baseline)                  | 16.00 |  - |  - | %8.1f | %6.0f | %6.1f |", N, K,
                      us16, b16 / us16 / 1e3, weights / us16 / 1e3);
        g_table.push_back(row);
    }

    std::vector<uint32_t> tiled_pb;
    for (const Layout &lay : layouts) {
        Coded c = makeCoded(N, K, ENTQ_CODES_INT8, lay.seg, lay.prob_bits, 2.5, N + K + lay.seg);
        const int nc = copiesFor(c.size, l2);
        std::vector<DevTensor> dts(nc);
        for (auto &d : dts) d.upload(c, c.bytes());
        uint32_t wpb, blocks;
        entq_cuda_launch_shape(&dts[0].t, &wpb, &blocks);
        CK(entq_cuda_status_reset(status, 0));
        char what[80];
        std::snprintf(what, sizeof(what), "segs=%-5u rps=%-2u pb=%2u", c.in.n_seg, c.in.rows_per_seg, c.in.prob_bits);
        for (uint32_t B : {1u, 2u, 8u}) {
            const double us = medianUs([&](int i) { entq_cuda_gemv(&dts[i % nc].t, dx, K, dy, N, B, status, 0); }, reps);
            char row[240];
            std::snprintf(row, sizeof(row), "| %5ux%-5u | entq GEMV B=%u %-27s | %5.3f | %2u | %5u | %8.1f | %6.0f | %6.1f |", N, K, B, what,
                          c.bits_per_weight, wpb, blocks, us, c.size / us / 1e3, weights / us / 1e3);
            g_table.push_back(row);
        }
        uint16_t *wf16;
        CK(cudaMalloc(&wf16, (size_t)N * K * 2));
        const double usd = medianUs([&](int i) { entq_cuda_decode_f16(&dts[i % nc].t, wf16, K, status, 0); }, reps);
        char row[240];
        std::snprintf(row, sizeof(row), "| %5ux%-5u | entq decode->f16 %-27s | %5.3f | %2u | %5u | %8.1f | %6.0f | %6.1f |", N, K, what,
                      c.bits_per_weight, wpb, blocks, usd, c.size / usd / 1e3, weights / usd / 1e3);
        g_table.push_back(row);
        if (readStatus(status) != ENTQ_OK) fail("timing run status");
        /* the same weights repacked into lane streams, side by side (once per file prob_bits:
         * the layout does not depend on the file's segments) */
        if (std::find(tiled_pb.begin(), tiled_pb.end(), c.in.prob_bits) != tiled_pb.end()) {
            CK(cudaFree(wf16));
            for (auto &d : dts) d.release();
            continue;
        }
        tiled_pb.push_back(c.in.prob_bits);
        DevTile first;
        first.upload(c);
        const int nt = copiesFor(first.head.size, l2);
        std::vector<DevTile> tts(nt);
        tts[0] = first;
        for (int i = 1; i < nt; i++) tts[i].uploadFrom(first);
        uint32_t twpb, tblocks;
        entq_tile_cuda_launch_shape(&tts[0].t, &twpb, &tblocks);
        char twhat[80];
        std::snprintf(twhat, sizeof(twhat), "tiles rpt=%-3u pb=%2u (from %s)", tts[0].head.rows_per_tile, tts[0].head.prob_bits, what);
        for (uint32_t B : {1u, 2u, 8u}) {
            const double us = medianUs([&](int i) { entq_tile_cuda_gemv(&tts[i % nt].t, dx, K, dy, N, B, 0); }, reps);
            char trow[260];
            std::snprintf(trow, sizeof(trow), "| %5ux%-5u | tile GEMV B=%u %-38s | %5.3f | %2u | %5u | %8.1f | %6.0f | %6.1f |", N, K, B, twhat,
                          tts[0].bitsPerWeight(), twpb, tblocks, us, tts[0].head.size / us / 1e3, weights / us / 1e3);
            g_table.push_back(trow);
        }
        const double ust = medianUs([&](int i) { entq_tile_cuda_decode_f16(&tts[i % nt].t, wf16, K, 0); }, reps);
        char trow[260];
        std::snprintf(trow, sizeof(trow), "| %5ux%-5u | tile decode->f16 %-38s | %5.3f | %2u | %5u | %8.1f | %6.0f | %6.1f |", N, K, twhat,
                      tts[0].bitsPerWeight(), twpb, tblocks, ust, tts[0].head.size / ust / 1e3, weights / ust / 1e3);
        g_table.push_back(trow);
        for (auto &d : tts) d.release();
        CK(cudaFree(wf16));
        for (auto &d : dts) d.release();
    }
    CK(cudaFree(status));
    CK(cudaFree(dx));
    CK(cudaFree(dy));
}

/* Prompt-sized batch: decode to f16 + GEMM against the GEMM alone on f16 weights. */
void timeBigBatch(uint32_t N, uint32_t K, uint32_t B, int l2) {
    Coded c = makeCoded(N, K, ENTQ_CODES_INT8, K, 11, 2.5, 99);
    const int nc = copiesFor(c.size, l2);
    std::vector<DevTensor> dts(nc);
    for (auto &d : dts) d.upload(c, c.bytes());
    float *dx, *dy;
    int *status;
    CK(cudaMalloc(&dx, (size_t)K * B * 4));
    CK(cudaMalloc(&dy, (size_t)N * B * 4));
    CK(cudaMalloc(&status, 8));
    std::vector<float> x((size_t)K * B);
    std::mt19937_64 rng(5);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto &v : x) v = nd(rng);
    CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
    BigBatch big;
    big.alloc(N, K, B);
    CK(entq_cuda_status_reset(status, 0));
    const double flop = 2.0 * N * K * B;
    for (int which = 1; which <= 2; which++) {
        if (which == 2 && !haveCublas()) continue;
        const bool cb = which == 2;
        const double us_all = medianUs([&](int i) { big.run(dts[i % nc].t, dx, dy, B, status, cb); }, 50);
        const double us_gemm = medianUs([&](int) { big.gemm(N, B, dy, cb); }, 50);
        char row[240];
        std::snprintf(row, sizeof(row), "| %5ux%-5u | B=%u decode+%s (GEMM alone %.1f us, %.0f TFLOP/s) | %8.1f | %6.0f TFLOP/s |", N, K, B,
                      cb ? "cuBLAS" : "wmma", us_gemm, flop / us_gemm / 1e6, us_all, flop / us_all / 1e6);
        g_table.push_back(row);
    }
    if (readStatus(status) != ENTQ_OK) fail("big batch status");
    big.release();
    for (auto &d : dts) d.release();
    CK(cudaFree(dx));
    CK(cudaFree(dy));
    CK(cudaFree(status));
}

}  // namespace

int main(int argc, char **argv) {
    /* --quick: the small correctness cases only (for compute-sanitizer);
     * --profile: a few launches of two 4096 x 4096 layouts (for ncu) */
    const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    const bool profile = argc > 1 && std::strcmp(argv[1], "--profile") == 0;
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    int clock_khz = 0;
    cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0);
    std::printf("device: %s, sm_%d%d, %d SMs, L2 %d MB, SM clock %d MHz, cuBLAS %s\n", prop.name, prop.major, prop.minor,
                prop.multiProcessorCount, prop.l2CacheSize >> 20, clock_khz / 1000, haveCublas() ? "yes" : "no");

    if (profile) {
        g_reps = 1;
        timeShape(4096, 4096, {{4096, 11}, {4096, 0}}, prop.l2CacheSize);
        for (auto &r : g_table) std::printf("%s\n", r.c_str());
        return g_failures ? 1 : 0;
    }

    /* the bandwidth ceiling: a large device-to-device copy (read + write) */
    if (!quick) {
        const size_t n = (size_t)1 << 30;
        int4 *a, *b;
        CK(cudaMalloc(&a, n));
        CK(cudaMalloc(&b, n));
        CK(cudaMemset(a, 1, n));
        const double us = medianUs([&](int) { copy_kernel<<<prop.multiProcessorCount * 8, 512>>>(a, b, n / 16); }, 20);
        std::printf("copy: %.0f GB/s (read + write)\n", 2.0 * n / us / 1e3);
        char row[120];
        std::snprintf(row, sizeof(row), "device-to-device copy: %.0f GB/s counting read + write", 2.0 * n / us / 1e3);
        g_table.push_back(row);
        CK(cudaFree(a));
        CK(cudaFree(b));
    }

    g_table.push_back("");
    g_table.push_back("| case (N x K, kind, segments, rows/seg, prob_bits, bits/weight) | B | path | NMSE vs f64 | |");
    g_table.push_back("| --- | --- | --- | --- | --- |");
    checkCase(77, 31, ENTQ_CODES_E4M3, 100, 0, {1, 2, 3, 8, 32, 512}, 1, true);
    checkCase(300, 1000, ENTQ_CODES_INT8, 1000, 12, {1, 2, 5, 8, 32, 512}, 2, true);
    checkCase(512, 4097, ENTQ_CODES_E4M3, 16384, 0, {1, 2, 8, 32, 512}, 3, true);
    checkCase(256, 4097, ENTQ_CODES_INT8, 4097, 11, {1, 8, 512}, 4, true);
    if (!quick) {
        checkCase(4096, 4096, ENTQ_CODES_INT8, 4096, 11, {1, 2, 8, 32}, 5, false);
        checkCase(4096, 11008, ENTQ_CODES_E4M3, 11008, 0, {1, 8}, 6, false);
    }

    if (!quick) {
        g_table.push_back("");
        g_table.push_back("| N x K | kernel (segments, rows/segment, prob_bits) | bits/w | warps/blk | blocks | median us | GB/s of stream | G weights/s |");
        g_table.push_back("| --- | --- | --- | --- | --- | --- | --- | --- |");
        /* one row per segment at the encoder's prob_bits, at 12 and 11, then
         * bigger segments */
        timeShape(4096, 4096, {{4096, 0}, {4096, 12}, {4096, 11}, {8192, 11}, {16384, 11}, {65536, 11}}, prop.l2CacheSize);
        timeShape(11008, 4096, {{4096, 11}, {16384, 11}, {65536, 11}}, prop.l2CacheSize);
        timeShape(4096, 11008, {{11008, 11}, {11008, 0}, {65536, 11}}, prop.l2CacheSize);
        g_table.push_back("");
        g_table.push_back("| N x K | large batch | median us | rate |");
        timeBigBatch(4096, 4096, 512, prop.l2CacheSize);
    }

    std::printf("\n");
    for (auto &r : g_table) std::printf("%s\n", r.c_str());
    std::printf("\n%s: %d failure(s)\n", g_failures ? "FAILED" : "PASSED", g_failures);
    return g_failures ? 1 : 0;
}
