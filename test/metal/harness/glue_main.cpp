// The ENTQ glue of the patched Metal backend (native/metal/entq_ggml_metal.cpp),
// linked with ggml-metal-device.cpp's real pipeline getters, ggml's base and
// CPU libraries and the Metal stand-in of glue_stub.cpp, whose encoder runs
// our kernels through the MSL shim: what supports_op accepts and refuses,
// that the kernels build once per device (and a device where they do not
// build refuses coded weights), each multiply path (GEMV for 1-8 columns, in
// chunks of 8 without simdgroup matrices, f16 rows + ggml's mul_mm + row
// scales above 8) against an f64 product, the scratch it asks for, and that
// layouts die with their buffer.
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <vector>

#include "ggml-backend.h"
#include "ggml-cpu.h"

#include "ggml/test/entq_coded_fixture.h"
#include "glue_stub.h"
#include "metal/entq_ggml_metal.h"

using namespace entq_fixture;
namespace stub = entq_glue_stub;

static int failures = 0;
#define EXPECT(cond, ...)                                  \
    do {                                                   \
        if (!(cond)) {                                     \
            failures++;                                    \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            std::printf(__VA_ARGS__);                      \
            std::printf("\n");                             \
        }                                                  \
    } while (0)

static int dev_storage[2];
static ggml_metal_device_t const dev = (ggml_metal_device_t) &dev_storage[0];
static ggml_metal_device_t const broken = (ggml_metal_device_t) &dev_storage[1];

// One multiply of a coded [K, N] weight by x [K, B1, B2] through the glue, every tensor placed in one
// host buffer (dst with the extra bytes the backend's get_alloc_size would add); returns the NMSE.
static double multiply(const Coded & c, int64_t B1, int64_t B2, std::vector<std::max_align_t> & arena, const char ** path) {
    Ctx g(16 * ggml_tensor_overhead(), true);
    ggml_tensor * w = coded_view(g.ctx, c);
    ggml_tensor * x = ggml_new_tensor_3d(g.ctx, GGML_TYPE_F32, c.K, B1, B2);
    ggml_tensor * y = ggml_mul_mat(g.ctx, w, x);
    EXPECT(entq_ggml_metal_supports_op(dev, y), "supports_op refused K=%u N=%u B=%lldx%lld", c.K, c.N, (long long) B1, (long long) B2);
    const size_t extra = entq_ggml_metal_extra(y);
    const size_t sizes[3] = {c.stream.size(), ggml_nbytes(x), ggml_nbytes(y) + extra};
    size_t total = 0;
    for (size_t s : sizes) total += (s + 63) & ~(size_t) 63;
    char * base = (char *) (((uintptr_t) arena.data() + 63) & ~(uintptr_t) 63);  // ggml's tensor alignment
    EXPECT(base + total <= (char *) (arena.data() + arena.size()), "arena too small");
    ggml_backend_buffer_t buf = ggml_backend_cpu_buffer_from_ptr(base, total);
    size_t off = 0;
    ggml_tensor * ts[3] = {w->view_src, x, y};
    for (int i = 0; i < 3; i++) {
        ggml_backend_tensor_alloc(buf, ts[i], base + off);
        off += (sizes[i] + 63) & ~(size_t) 63;
    }
    ggml_backend_view_init(w);
    ggml_backend_tensor_set(w->view_src, c.stream.data(), 0, c.stream.size());
    std::vector<float> xv((size_t) c.K * B1 * B2);
    entq_test::Rng rng(c.K + B1 * 7 + B2);
    for (auto & v : xv) v = (float) (rng.uniform() * 2 - 1);
    ggml_backend_tensor_set(x, xv.data(), 0, xv.size() * sizeof(float));
    stub::state().dispatches.clear();
    ggml_metal_library_t lib = stub::ggml_library(dev);
    ggml_metal_encoder_t enc = stub::new_encoder();
    entq_ggml_metal_mul_mat(dev, lib, enc, y);
    stub::free_encoder(enc);
    ggml_metal_library_free(lib);
    std::vector<float> yv((size_t) c.N * B1 * B2, 0.0f);
    ggml_backend_tensor_get(y, yv.data(), 0, yv.size() * sizeof(float));
    const auto & d = stub::state().dispatches;
    *path = d.empty() ? "none" : d[0] == "kernel_entq_tile_f16" ? "f16 rows + mul_mm + scale_rows" : "fused GEMV";
    const bool f16_path = d.size() == 3 && d[0] == "kernel_entq_tile_f16";
    EXPECT(!f16_path || extra >= (size_t) c.N * ((c.K + 31) & ~31u) * 2, "f16 rows with %zu bytes of scratch", extra);
    EXPECT(f16_path || d.size() == (size_t) (B1 * B2 + 7) / 8, "%zu dispatches for %lld columns on the GEMV path", d.size(), (long long) (B1 * B2));
    ggml_backend_buffer_free(buf);  // the bytes stay: the next multiply finds the weight at the same address
    return nmse_vs_f64(c, xv.data(), yv.data(), (uint32_t) (B1 * B2));
}

int main() {
    // the ops coded weights meet, and what the backend answers
    {
        const Coded c = make_coded(256, 64, ENTQ_CODES_E4M3, 0, 1);
        Ctx g(64 * ggml_tensor_overhead(), true);
        ggml_tensor * w = coded_view(g.ctx, c);
        ggml_tensor * x = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, 256, 4);
        ggml_tensor * xh = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F16, 256, 4);
        ggml_tensor * xt = ggml_transpose(g.ctx, ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, 4, 256));
        ggml_tensor * ids = ggml_new_tensor_1d(g.ctx, GGML_TYPE_I32, 4);
        const Coded ce = make_coded(256, 64, ENTQ_CODES_E4M3, 0, 2, 100, 4);
        ggml_tensor * we = coded_view(g.ctx, ce);
        ggml_tensor * xe = ggml_new_tensor_3d(g.ctx, GGML_TYPE_F32, 256, 2, 3);
        ggml_tensor * route = ggml_new_tensor_2d(g.ctx, GGML_TYPE_I32, 2, 3);
        struct { const char * what; ggml_tensor * op; bool want; } cases[] = {
            {"mul_mat f32", ggml_mul_mat(g.ctx, w, x), true},
            {"mul_mat f16 activations", ggml_mul_mat(g.ctx, w, xh), false},
            {"mul_mat transposed activations", ggml_mul_mat(g.ctx, w, xt), false},
            {"get_rows", ggml_get_rows(g.ctx, w, ids), false},
            {"mul_mat_id (experts)", ggml_mul_mat_id(g.ctx, we, xe, route), false},
        };
        for (auto & k : cases) {
            const bool got = entq_ggml_metal_supports_op(dev, k.op);
            std::printf("supports_op %-32s %d\n", k.what, got);
            EXPECT(got == k.want, "supports_op(%s) = %d", k.what, got);
        }
        EXPECT(stub::state().library_builds == 1, "the kernels were built %d times on one device", stub::state().library_builds);
        // a device where our library does not build: coded multiplies refused (stay on the CPU), asked once
        stub::state().failing_device = broken;
        const bool b1 = entq_ggml_metal_supports_op(broken, cases[0].op), b2 = entq_ggml_metal_supports_op(broken, cases[0].op);
        std::printf("supports_op on a device where the kernels do not build: %d\n", b1 || b2);
        EXPECT(!b1 && !b2 && stub::state().library_builds == 2, "a failed build: supports %d/%d after %d builds", b1, b2, stub::state().library_builds);
    }

    // every multiply path against f64, then the layouts' lifetime
    struct { uint32_t K, N, kind, seg; } shapes[] = {
        {256, 64, ENTQ_CODES_E4M3, 0}, {100, 37, ENTQ_CODES_INT8, 0}, {1000, 9, ENTQ_CODES_CUSTOM, 300}, {4097, 5, ENTQ_CODES_INT8, 0}, {320, 130, ENTQ_CODES_E4M3, 2048},
    };
    const int64_t batches[][2] = {{1, 1}, {2, 1}, {8, 1}, {9, 1}, {17, 1}, {5, 3}, {12, 2}};
    std::vector<std::max_align_t> arena((8u << 20) / sizeof(std::max_align_t));
    for (auto & s : shapes) {
        const Coded c = make_coded(s.K, s.N, s.kind, s.seg, s.K + s.N);
        for (bool mm : {true, false}) {
            stub::state().has_simdgroup_mm = mm;
            for (auto & b : batches) {
                const char * path = "";
                const double e = multiply(c, b[0], b[1], arena, &path);
                std::printf("K=%-5u N=%-4u kind=%u B=%2lldx%lld simdgroup_mm=%d  %-31s NMSE %.2e\n", s.K, s.N, s.kind, (long long) b[0], (long long) b[1], mm, path, e);
                EXPECT(e < 1e-6, "NMSE %.3g", e);
                const bool want_mm = mm && s.K >= 64 && b[0] > 8;
                EXPECT(!std::strcmp(path, want_mm ? "f16 rows + mul_mm + scale_rows" : "fused GEMV"), "path %s", path);
            }
        }
        // one layout for the weight's 14 multiplies, gone with its buffer: the next shape, at the same
        // address, must get a layout of its own (a stale one would fail its NMSE)
        EXPECT(stub::state().live_buffers == 1, "%d layouts alive for one weight", stub::state().live_buffers);
        entq_ggml_metal_forget(arena.data(), arena.size() * sizeof(std::max_align_t));
        EXPECT(stub::state().live_buffers == 0, "%d layouts outlived their buffer", stub::state().live_buffers);
    }
    std::printf("layouts: one per weight, freed with the weight's buffer\n");

    for (const auto & p : stub::state().problems) std::printf("FAIL stand-in: %s\n", p.c_str());
    failures += (int) stub::state().problems.size();
    std::printf("%s\n", failures ? "glue harness: FAILED" : "glue harness: all passed");
    return failures ? 1 : 0;
}
