// ggml-level tests of GGML_TYPE_ENTQ on a GPU backend of the patched ggml
// (CUDA or Metal), in the style of test-backend-ops: the same mul_mat graph on
// the GPU backend and on the CPU backend, coded weight resident on each,
// compared with each other and with an f64 reference over the exactly
// dequantised weights (NMSE), for odd K, N = 1, several segment sizes, the
// three code kinds and batches 1, 2, 8, 32, 512 (GEMV and decode + GEMM
// paths); MUL_MAT_ID on coded stacks of experts the same way where the device
// runs it (CUDA; Metal leaves it to the CPU). Also: which ops the device
// accepts for coded weights, and that it never offloads host-resident ones.
// Needs a GPU: built and run against a GPU build's ggml libraries by
// scripts/gpu-check.sh --llama (CUDA) and scripts/mac-check.sh (Metal);
// ENTQ_GPU=<device name prefix> picks the device (default: the first GPU).
// Linked with native/test/test_main.cpp.
#include <cstdio>
#include <cstdlib>

#include "ggml-backend.h"
#include "ggml-cpu.h"

#include "ggml/test/entq_coded_fixture.h"

using namespace entq_fixture;

namespace {

ggml_backend_dev_t gpu_device() {
    const char * want = std::getenv("ENTQ_GPU");
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        if (ggml_backend_dev_type(d) == GGML_BACKEND_DEVICE_TYPE_GPU && (!want || std::strncmp(ggml_backend_dev_name(d), want, std::strlen(want)) == 0)) return d;
    }
    return nullptr;
}

bool is_cuda(ggml_backend_dev_t d) { return std::strncmp(ggml_backend_dev_name(d), "CUDA", 4) == 0; }

// Allocates the graph of yt in `backend`'s buffer, uploads the stream, x (and the expert ids), then
// computes it `runs` times into y (sized by the caller): false when a run fails or differs from the first.
bool run_graph(ggml_backend_t backend, ggml_context * ctx, const Coded & c, ggml_tensor * w, ggml_tensor * xt, const std::vector<float> & x,
               ggml_tensor * yt, int runs, std::vector<float> & y, ggml_tensor * it = nullptr, const std::vector<int32_t> * ids = nullptr) {
    ggml_cgraph * gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, yt);
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(ctx, backend);
    if (!buf) return false;
    ggml_backend_tensor_set(w->view_src, c.stream.data(), 0, c.stream.size());
    ggml_backend_tensor_set(xt, x.data(), 0, x.size() * sizeof(float));
    if (it) ggml_backend_tensor_set(it, ids->data(), 0, ids->size() * sizeof(int32_t));
    bool same = true;
    for (int r = 0; r < runs; r++) {
        if (ggml_backend_graph_compute(backend, gf) != GGML_STATUS_SUCCESS) same = false;
        std::vector<float> out(y.size());
        ggml_backend_tensor_get(yt, out.data(), 0, out.size() * sizeof(float));
        if (r > 0 && std::memcmp(out.data(), y.data(), out.size() * sizeof(float)) != 0) same = false;
        y = out;
    }
    ggml_backend_buffer_free(buf);
    return same;
}

// y = mul_mat(view, x) computed by `backend`, the blob and x in its buffer; `runs` times (a second
// run takes the cached table and, on CUDA, may be captured as a graph): every run must agree.
bool run_mul_mat(ggml_backend_t backend, const Coded & c, const std::vector<float> & x, uint32_t B, int runs, std::vector<float> & y) {
    Ctx g(16 * ggml_tensor_overhead() + ggml_graph_overhead(), true);
    ggml_tensor * w = coded_view(g.ctx, c);
    ggml_tensor * xt = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, c.K, B);
    ggml_tensor * yt = ggml_mul_mat(g.ctx, w, xt);
    y.assign((size_t) c.N * B, 0.0f);
    return run_graph(backend, g.ctx, c, w, xt, x, yt, runs, y);
}

double nmse(const std::vector<float> & a, const std::vector<float> & ref) {
    double err = 0, ref2 = 0;
    for (size_t i = 0; i < a.size(); i++) {
        err += ((double) a[i] - ref[i]) * ((double) a[i] - ref[i]);
        ref2 += (double) ref[i] * ref[i];
    }
    return ref2 > 0 ? err / ref2 : err;
}

constexpr double NMSE_MAX = 1e-6;  // test-backend-ops' bound; f32 GEMV ~1e-14, f16 decode + GEMM ~4e-8

}  // namespace

TEST(entq_gpu_mul_mat_matches_cpu_and_f64) {
    ggml_backend_dev_t dev = gpu_device();
    CHECKF(dev != nullptr, "no GPU device (ENTQ_GPU=%s) among %zu ggml devices", std::getenv("ENTQ_GPU") ? std::getenv("ENTQ_GPU") : "any", ggml_backend_dev_count());
    ggml_backend_t gpu = ggml_backend_dev_init(dev, nullptr);
    ggml_backend_t cpu = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    CHECK(gpu && cpu);
    std::printf("  device: %s (%s)\n", ggml_backend_dev_name(dev), ggml_backend_dev_description(dev));
    std::printf("  %-6s %-5s %-6s %-6s %-4s %-10s %-10s %s\n", "K", "N", "kind", "segs", "B", "nmse_f64", "nmse_cpu", "");
    struct Shape { uint32_t K, N, seg; };
    // K odd and not a multiple of 32; N = 1; one row per segment (the GPU's layout) and many rows per segment
    const Shape shapes[] = {{1, 1, 0}, {31, 77, 93}, {100, 1, 0}, {1000, 300, 1000}, {4097, 256, 4097}, {4096, 512, 65536}};
    const uint32_t batches[] = {1, 2, 8, 32, 512};
    const uint32_t kinds[] = {ENTQ_CODES_INT8, ENTQ_CODES_E4M3, ENTQ_CODES_CUSTOM};
    static const char * kind_names[] = {"e4m3", "int8", "custom"};
    uint64_t seed = 100;
    for (const Shape & s : shapes)
        for (uint32_t kind : kinds) {
            Coded c = make_coded(s.K, s.N, kind, s.seg, seed++);
            CHECKF(!c.stream.empty(), "encode K=%u N=%u", s.K, s.N);
            entq_info in;
            CHECK(entq_parse(c.stream.data(), c.stream.size(), &in) == ENTQ_OK);
            for (uint32_t B : batches) {
                entq_test::Rng rng(seed++);
                std::vector<float> x((size_t) s.K * B), y_gpu, y_cpu;
                for (float & v : x) v = (float) (rng.uniform() * 2 - 1);
                const bool stable = run_mul_mat(gpu, c, x, B, 3, y_gpu);
                CHECKF(run_mul_mat(cpu, c, x, B, 1, y_cpu), "CPU run K=%u B=%u", s.K, B);
                const double e_ref = nmse_vs_f64(c, x.data(), y_gpu.data(), B), e_cpu = nmse(y_gpu, y_cpu);
                const bool ok = stable && e_ref < NMSE_MAX && e_cpu < NMSE_MAX;
                std::printf("  %-6u %-5u %-6s %-6u %-4u %-10.3g %-10.3g %s\n", s.K, s.N, kind_names[kind], in.n_seg, B, e_ref, e_cpu,
                            ok ? "ok" : stable ? "FAIL" : "FAIL (runs differ)");
                CHECKF(ok, "K=%u N=%u kind=%u B=%u: nmse %.3g vs f64, %.3g vs CPU, runs %s", s.K, s.N, kind, B, e_ref, e_cpu,
                       stable ? "agree" : "differ");
            }
        }
    ggml_backend_free(gpu);
    ggml_backend_free(cpu);
}

TEST(entq_gpu_accepts_only_device_resident_mul_mat) {
    ggml_backend_dev_t dev = gpu_device();
    CHECK(dev != nullptr);
    Coded c = make_coded(64, 8, ENTQ_CODES_INT8, 0, 3);
    Ctx g(1 << 20, true);
    ggml_tensor * w = coded_view(g.ctx, c);
    ggml_tensor * x = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, 64, 40);  // 40 columns: above the offload batch (32)
    ggml_tensor * mm = ggml_mul_mat(g.ctx, w, x);
    ggml_tensor * ids = ggml_new_tensor_1d(g.ctx, GGML_TYPE_I32, 2);
    ggml_tensor * xh = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F16, 64, 4);

    // a loader probing the device's own buffer type: yes for the multiply (and, on CUDA, row lookups), no for anything else
    w->buffer = ggml_backend_buft_alloc_buffer(ggml_backend_dev_buffer_type(dev), 0);
    CHECK(ggml_backend_dev_supports_op(dev, mm));
    CHECK(ggml_backend_dev_supports_op(dev, ggml_get_rows(g.ctx, w, ids)) == is_cuda(dev));
    CHECK(!ggml_backend_dev_supports_op(dev, ggml_mul_mat(g.ctx, w, xh)));
    ggml_backend_buffer_free(w->buffer);

    // host-resident: neither run here nor offloaded by copies
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    w->buffer = ggml_backend_buft_alloc_buffer(ggml_backend_dev_buffer_type(cpu), 0);
    w->view_src->buffer = w->buffer;
    CHECK(!ggml_backend_dev_supports_op(dev, mm));
    CHECK(!ggml_backend_dev_offload_op(dev, mm));
    ggml_backend_buffer_free(w->buffer);
    w->buffer = w->view_src->buffer = nullptr;
}

namespace {

// y = mul_mat_id(coded stack, x [K, xcols, T], ids [n_used, T]) on `backend`, everything in its buffer; `runs` times.
bool run_mul_mat_id(ggml_backend_t backend, const Coded & c, const std::vector<float> & x, uint32_t xcols, const std::vector<int32_t> & ids,
                    uint32_t n_used, uint32_t T, int runs, std::vector<float> & y) {
    Ctx g(16 * ggml_tensor_overhead() + ggml_graph_overhead(), true);
    ggml_tensor * w = coded_view(g.ctx, c);
    ggml_tensor * xt = ggml_new_tensor_3d(g.ctx, GGML_TYPE_F32, c.K, xcols, T);
    ggml_tensor * it = ggml_new_tensor_2d(g.ctx, GGML_TYPE_I32, n_used, T);
    ggml_tensor * yt = ggml_mul_mat_id(g.ctx, w, xt, it);
    y.assign((size_t) (c.N / c.E) * n_used * T, 0.0f);
    return run_graph(backend, g.ctx, c, w, xt, x, yt, runs, y, it, &ids);
}

}  // namespace

// MUL_MAT_ID on a coded stack of experts: the GEMV (few columns per expert) and decode + GEMM (many) paths,
// against the CPU backend and an f64 reference over the dequantised experts; some experts routed to by no token.
TEST(entq_gpu_mul_mat_id_matches_cpu_and_f64) {
    ggml_backend_dev_t dev = gpu_device();
    CHECK(dev != nullptr);
    if (!dev) return;
    {
        Coded c = make_coded(64, 16, ENTQ_CODES_E4M3, 0, 1, 39, 2);
        Ctx g(1 << 20, true);
        ggml_tensor * w = coded_view(g.ctx, c);
        ggml_tensor * probe = ggml_mul_mat_id(g.ctx, w, ggml_new_tensor_3d(g.ctx, GGML_TYPE_F32, 64, 1, 2), ggml_new_tensor_2d(g.ctx, GGML_TYPE_I32, 1, 2));
        w->buffer = w->view_src->buffer = ggml_backend_buft_alloc_buffer(ggml_backend_dev_buffer_type(dev), 0);
        const bool runs = ggml_backend_dev_supports_op(dev, probe);
        ggml_backend_buffer_free(w->buffer);
        CHECKF(runs || !is_cuda(dev), "CUDA refuses MUL_MAT_ID on coded experts");
        if (!runs) {
            std::printf("  mul_mat_id on coded experts: not run on %s (left to the CPU)\n", ggml_backend_dev_name(dev));
            return;
        }
    }
    ggml_backend_t gpu = ggml_backend_dev_init(dev, nullptr);
    ggml_backend_t cpu = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    CHECK(gpu && cpu);
    struct Shape { uint32_t K, Ne, E, seg; };
    const Shape shapes[] = {{33, 12, 4, 0}, {1000, 96, 8, 4000}, {4096, 256, 8, 65536}};
    uint64_t seed = 300;
    for (const Shape & s : shapes)
        for (uint32_t T : {1u, 3u, 64u})
            for (uint32_t xcols : {1u, 2u}) {
                Coded c = make_coded(s.K, s.Ne * s.E, ENTQ_CODES_E4M3, s.seg, seed++, 39, s.E);
                CHECK(!c.stream.empty());
                const uint32_t n_used = 2;
                entq_test::Rng rng(seed++);
                std::vector<float> x((size_t) s.K * xcols * T), y_gpu, y_cpu;
                for (float & v : x) v = (float) (rng.uniform() * 2 - 1);
                std::vector<int32_t> ids((size_t) n_used * T);
                for (uint32_t t = 0; t < T; t++) {  // two distinct experts of the first E - 1: the last one unrouted
                    ids[(size_t) t * 2] = (int32_t) (rng.uniform() * (s.E - 1)) % (int32_t) (s.E - 1);
                    ids[(size_t) t * 2 + 1] = (ids[(size_t) t * 2] + 1 + (int32_t) (rng.uniform() * (s.E - 2))) % (int32_t) (s.E - 1);
                }
                const bool stable = run_mul_mat_id(gpu, c, x, xcols, ids, n_used, T, 3, y_gpu);
                CHECK(run_mul_mat_id(cpu, c, x, xcols, ids, n_used, T, 1, y_cpu));
                double err = 0, ref2 = 0;
                for (uint32_t t = 0; t < T; t++)
                    for (uint32_t u = 0; u < n_used; u++) {
                        const uint32_t e = (uint32_t) ids[(size_t) t * n_used + u];
                        const float * xc = x.data() + ((size_t) t * xcols + u % xcols) * s.K;
                        for (uint32_t n = 0; n < s.Ne; n++) {
                            double ref = 0;
                            for (uint32_t k = 0; k < s.K; k++) ref += (double) c.w[((size_t) e * s.Ne + n) * s.K + k] * xc[k];
                            const double d = y_gpu[((size_t) t * n_used + u) * s.Ne + n] - ref;
                            err += d * d;
                            ref2 += ref * ref;
                        }
                    }
                const double e_ref = ref2 > 0 ? err / ref2 : err, e_cpu = nmse(y_gpu, y_cpu);
                std::printf("  mul_mat_id K=%-5u Ne=%-4u E=%u T=%-3u xcols=%u nmse_f64 %.3g nmse_cpu %.3g%s\n", s.K, s.Ne, s.E, T, xcols, e_ref,
                            e_cpu, stable ? "" : " (runs differ)");
                CHECKF(stable && e_ref < NMSE_MAX && e_cpu < NMSE_MAX, "K=%u Ne=%u E=%u T=%u: nmse %.3g vs f64, %.3g vs CPU", s.K, s.Ne, s.E,
                       T, e_ref, e_cpu);
            }
    ggml_backend_free(gpu);
    ggml_backend_free(cpu);
}
