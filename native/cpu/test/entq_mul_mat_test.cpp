// ggml-level tests of GGML_TYPE_ENTQ on the patched ggml-cpu, in the style of
// test-backend-ops: mul_mat of a coded [K, N] weight view against an f64
// reference over the exactly dequantised weights (entq_decode_dequantize),
// judged by NMSE. Built against the patched build's ggml libraries by
// test/runtime/ggmlMulMat.test.ts; linked with native/test/test_main.cpp.
#include "ggml-backend.h"
#include "ggml-cpu.h"

#include "ggml/test/entq_coded_fixture.h"

using namespace entq_fixture;

namespace {

// NMSE of ggml's mul_mat(view, x) against an f64 reference, for B columns on `threads` threads.
double mul_mat_nmse(const Coded & c, uint32_t B, int threads, uint64_t seed) {
    Ctx g(c.stream.size() + (size_t) c.K * B * 4 + (size_t) c.N * B * 4 + 64 * ggml_tensor_overhead() + ggml_graph_overhead() + (1 << 20));
    ggml_tensor * w = coded_view(g.ctx, c);
    ggml_tensor * x = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, c.K, B);
    entq_test::Rng rng(seed);
    float * xd = (float *) x->data;
    for (size_t i = 0; i < (size_t) c.K * B; i++) xd[i] = (float) (rng.uniform() * 2 - 1);
    ggml_tensor * y = ggml_mul_mat(g.ctx, w, x);
    ggml_cgraph * gf = ggml_new_graph(g.ctx);
    ggml_build_forward_expand(gf, y);
    if (ggml_graph_compute_with_ctx(g.ctx, gf, threads) != GGML_STATUS_SUCCESS) return INFINITY;
    return nmse_vs_f64(c, xd, (const float *) y->data, B);
}

constexpr double NMSE_MAX = 1e-6;  // f32 sums of K terms vs f64: ~1e-13 here; 1e-6 is test-backend-ops' bound

}  // namespace

TEST(entq_ggml_nbytes_is_stream_size) {
    Coded c = make_coded(100, 7, ENTQ_CODES_INT8, 0, 1);
    CHECK(!c.stream.empty());
    Ctx g(c.stream.size() + (1 << 16));
    ggml_tensor * v = coded_view(g.ctx, c);
    CHECK(ggml_nbytes(v) == c.stream.size());
    CHECK(ggml_nbytes(v->view_src) == c.stream.size());
    CHECK(v->ne[0] == 100 && v->ne[1] == 7 && !ggml_is_transposed(v));
    CHECK(std::strcmp(ggml_type_name(GGML_TYPE_ENTQ), "entq") == 0);
    CHECK((int) GGML_TYPE_ENTQ == ENTQ_GGML_TYPE_ID);
    CHECK(ggml_type_size(GGML_TYPE_ENTQ) == 1 && ggml_blck_size(GGML_TYPE_ENTQ) == 1);
}

TEST(entq_mul_mat_matches_f64_reference) {
    struct Shape { uint32_t K, N, seg; };
    // K not a multiple of 32 (nor of anything), N = 1, several segments, ragged last segments
    const Shape shapes[] = {{1, 1, 0}, {17, 3, 0}, {100, 1, 0}, {255, 33, 1000}, {1000, 61, 4096}, {4097, 64, 20000}};
    const uint32_t batches[] = {1, 2, 7, 32, 512};
    const uint32_t kinds[] = {ENTQ_CODES_INT8, ENTQ_CODES_E4M3, ENTQ_CODES_CUSTOM};
    uint64_t seed = 10;
    for (const Shape & s : shapes)
        for (uint32_t kind : kinds) {
            Coded c = make_coded(s.K, s.N, kind, s.seg, seed++);
            CHECKF(!c.stream.empty(), "encode K=%u N=%u", s.K, s.N);
            for (uint32_t B : batches) {
                const int threads = 1 + (int) (seed % 3);  // 1..3 threads: more threads than segments too
                const double nmse = mul_mat_nmse(c, B, threads, seed++);
                std::printf("  K=%-5u N=%-3u kind=%u B=%-3u threads=%d nmse=%.3g\n", s.K, s.N, kind, B, threads, nmse);
                CHECKF(nmse < NMSE_MAX, "K=%u N=%u kind=%u B=%u threads=%d: nmse %.3g", s.K, s.N, kind, B, threads, nmse);
            }
        }
}

TEST(entq_mul_mat_broadcasts_over_batch_dims) {
    // activations [K, 3, 2, 2] against one weight: every (i12, i13) slice multiplies the same matrix
    Coded c = make_coded(33, 9, ENTQ_CODES_INT8, 0, 77);
    Ctx g(1 << 22);
    ggml_tensor * w = coded_view(g.ctx, c);
    ggml_tensor * x = ggml_new_tensor_4d(g.ctx, GGML_TYPE_F32, 33, 3, 2, 2);
    entq_test::Rng rng(5);
    for (int64_t i = 0; i < ggml_nelements(x); i++) ((float *) x->data)[i] = (float) (rng.uniform() - 0.5);
    ggml_tensor * y = ggml_mul_mat(g.ctx, w, x);
    ggml_cgraph * gf = ggml_new_graph(g.ctx);
    ggml_build_forward_expand(gf, y);
    CHECK(ggml_graph_compute_with_ctx(g.ctx, gf, 2) == GGML_STATUS_SUCCESS);
    for (int64_t col = 0; col < 12; col++)
        for (uint32_t n = 0; n < 9; n++) {
            double ref = 0;
            for (uint32_t k = 0; k < 33; k++) ref += (double) c.w[n * 33 + k] * ((float *) x->data)[col * 33 + k];
            CHECKF(std::fabs(((float *) y->data)[col * 9 + n] - ref) < 1e-4, "col %lld row %u", (long long) col, n);
        }
}

TEST(entq_cpu_supports_only_mul_mat) {
    Coded c = make_coded(64, 8, ENTQ_CODES_INT8, 0, 3);
    Ctx g(1 << 20);
    ggml_tensor * w = coded_view(g.ctx, c);
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    CHECK(cpu != nullptr);
    ggml_tensor * x = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, 64, 4);
    CHECK(ggml_backend_dev_supports_op(cpu, ggml_mul_mat(g.ctx, w, x)));
    ggml_tensor * ids = ggml_new_tensor_1d(g.ctx, GGML_TYPE_I32, 2);
    CHECK(!ggml_backend_dev_supports_op(cpu, ggml_get_rows(g.ctx, w, ids)));
    ggml_tensor * xh = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F16, 64, 4);
    CHECK(!ggml_backend_dev_supports_op(cpu, ggml_mul_mat(g.ctx, w, xh)));  // activations stay f32
    // the CPU's extra buffer types (repack, ...) would rewrite a weight's bytes: a coded one must stay out
    auto get_extra = (ggml_backend_dev_get_extra_bufts_t) ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(cpu), "ggml_backend_dev_get_extra_bufts");
    for (ggml_backend_buffer_type_t * b = get_extra ? get_extra(cpu) : nullptr; b && *b; b++) {
        ggml_tensor * mm = ggml_mul_mat(g.ctx, w, x);
        w->buffer = ggml_backend_buft_alloc_buffer(*b, 0);
        const bool ok = ggml_backend_dev_supports_op(cpu, mm);
        ggml_backend_buffer_free(w->buffer);
        w->buffer = nullptr;
        CHECKF(!ok, "coded weight accepted in extra buffer type %s", ggml_backend_buft_name(*b));
    }
}

TEST(entq_validate_row_data_checks_stream) {
    Coded c = make_coded(50, 5, ENTQ_CODES_E4M3, 0, 9);
    CHECK(ggml_validate_row_data(GGML_TYPE_ENTQ, c.stream.data(), c.stream.size()));
    std::vector<uint8_t> bad = c.stream;
    bad[bad.size() - 3] ^= 0x10;  // payload bit flip: only the checksum sees it
    CHECK(!ggml_validate_row_data(GGML_TYPE_ENTQ, bad.data(), bad.size()));
    CHECK(!ggml_validate_row_data(GGML_TYPE_ENTQ, c.stream.data(), c.stream.size() - 1));
}
