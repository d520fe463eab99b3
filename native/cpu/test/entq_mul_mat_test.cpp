// ggml-level tests of GGML_TYPE_ENTQ on the patched ggml-cpu, in the style of
// test-backend-ops: mul_mat of a coded [K, N] weight view against an f64
// reference over the exactly dequantised weights (entq_decode_dequantize),
// judged by NMSE. Built against the patched build's ggml libraries by
// test/runtime/ggmlMulMat.test.ts; linked with native/test/test_main.cpp.
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

#include <cstring>
#include <stdexcept>
#include <string>

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

TEST(entq_get_rows_matches_dequantised_rows) {
    // token embeddings: rows in any order, repeated, on 1-3 threads, each bit for bit the reference's row
    // (entq_decode_dequantize: value * row scale in f32), across segment sizes
    uint64_t seed = 300;
    for (uint32_t seg : {0u, 1u, 100u})
        for (uint32_t kind : {ENTQ_CODES_INT8, ENTQ_CODES_E4M3}) {
            Coded c = make_coded(70, 23, kind, seg, seed++);
            CHECK(!c.stream.empty());
            Ctx g(1 << 20);
            ggml_tensor * w = coded_view(g.ctx, c);
            const int32_t rows[] = {22, 0, 5, 5, 21, 3, 0, 22, 11};
            ggml_tensor * ids = ggml_new_tensor_1d(g.ctx, GGML_TYPE_I32, 9);
            std::memcpy(ids->data, rows, sizeof(rows));
            ggml_tensor * y = ggml_get_rows(g.ctx, w, ids);
            ggml_cgraph * gf = ggml_new_graph(g.ctx);
            ggml_build_forward_expand(gf, y);
            CHECK(ggml_graph_compute_with_ctx(g.ctx, gf, 1 + (int) (seed % 3)) == GGML_STATUS_SUCCESS);
            bool same = true;
            for (int i = 0; i < 9; i++)
                same = same && std::memcmp((const float *) y->data + (size_t) i * 70, c.w.data() + (size_t) rows[i] * 70, 70 * sizeof(float)) == 0;
            CHECKF(same, "seg=%u kind=%u: rows differ from the dequantised weight", seg, kind);
        }
}

TEST(entq_cpu_supports_mul_mat_and_get_rows_only) {
    Coded c = make_coded(64, 8, ENTQ_CODES_INT8, 0, 3);
    Ctx g(1 << 20);
    ggml_tensor * w = coded_view(g.ctx, c);
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    CHECK(cpu != nullptr);
    ggml_tensor * x = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, 64, 4);
    CHECK(ggml_backend_dev_supports_op(cpu, ggml_mul_mat(g.ctx, w, x)));
    ggml_tensor * ids = ggml_new_tensor_1d(g.ctx, GGML_TYPE_I32, 2);
    CHECK(ggml_backend_dev_supports_op(cpu, ggml_get_rows(g.ctx, w, ids)));
    // an output of other rows than K long, or of another count than the ids: refused (the kernel writes by them)
    for (int bad = 0; bad < 2; bad++) {
        ggml_tensor * gr = ggml_get_rows(g.ctx, w, ids);
        CHECK(ggml_backend_dev_supports_op(cpu, gr));
        gr->ne[bad] += 1;
        CHECKF(!ggml_backend_dev_supports_op(cpu, gr), "malformed get_rows %d accepted", bad);
    }
    ggml_tensor * xh = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F16, 64, 4);
    CHECK(!ggml_backend_dev_supports_op(cpu, ggml_mul_mat(g.ctx, w, xh)));  // activations stay f32
    // the CPU's other extra buffer types (repack, ...) would rewrite a weight's bytes: a coded one goes to CPU_ENTQ only
    auto get_extra = (ggml_backend_dev_get_extra_bufts_t) ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(cpu), "ggml_backend_dev_get_extra_bufts");
    int entq_bufts = 0;
    for (ggml_backend_buffer_type_t * b = get_extra ? get_extra(cpu) : nullptr; b && *b; b++) {
        ggml_tensor * mm = ggml_mul_mat(g.ctx, w, x);
        w->buffer = ggml_backend_buft_alloc_buffer(*b, 0);
        const bool ok = ggml_backend_dev_supports_op(cpu, mm);
        ggml_backend_buffer_free(w->buffer);
        w->buffer = nullptr;
        const bool is_entq = std::strcmp(ggml_backend_buft_name(*b), "CPU_ENTQ") == 0;
        entq_bufts += is_entq;
        CHECKF(ok == is_entq, "coded weight %s in extra buffer type %s", ok ? "accepted" : "refused", ggml_backend_buft_name(*b));
    }
    CHECK(entq_bufts == 1);
    // a malformed graph (one received over RPC, say) whose shapes would make the kernel read or write out of
    // bounds is refused: activations of another length than K, an output of other rows or columns than N x B
    for (int bad = 0; bad < 5; bad++) {
        ggml_tensor * xb = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, 64, 4);
        ggml_tensor * mm = ggml_mul_mat(g.ctx, w, xb);
        CHECK(ggml_backend_dev_supports_op(cpu, mm));
        switch (bad) {
            case 0: xb->ne[0] = 65; break;
            case 1: mm->ne[0] = 9; break;
            case 2: mm->ne[1] = 5; break;
            case 3: mm->ne[2] = 2; break;
            case 4: mm->ne[3] = 2; break;
        }
        CHECKF(!ggml_backend_dev_supports_op(cpu, mm), "malformed shape %d accepted", bad);
    }
}

namespace {

// The CPU_ENTQ extra buffer type, where coded weights are repacked into the CPU layout at load.
ggml_backend_buffer_type_t entq_buft() {
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    auto get_extra = (ggml_backend_dev_get_extra_bufts_t) ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(cpu), "ggml_backend_dev_get_extra_bufts");
    for (ggml_backend_buffer_type_t * b = get_extra ? get_extra(cpu) : nullptr; b && *b; b++)
        if (std::strcmp(ggml_backend_buft_name(*b), "CPU_ENTQ") == 0) return *b;
    return nullptr;
}

// A coded weight loaded the way llama.cpp loads it into CPU_ENTQ (allocate, then set the whole stream);
// an exception from set_tensor (a refused stream) is returned as its message.
struct Loaded {
    Ctx ctx{64 * ggml_tensor_overhead(), true};
    ggml_backend_buffer_t buf = nullptr;
    ggml_tensor * view = nullptr;
    std::string error;
    Loaded(const Coded & c, const std::vector<uint8_t> & stream, ggml_backend_buffer_type_t buft = entq_buft()) {
        view = coded_view(ctx.ctx, c);
        buf = ggml_backend_alloc_ctx_tensors_from_buft(ctx.ctx, buft);
        try {
            ggml_backend_tensor_set(view->view_src, stream.data(), 0, stream.size());
        } catch (const std::exception & e) {
            error = e.what();
        }
    }
    ~Loaded() { ggml_backend_buffer_free(buf); }
};

// y = mul_mat(weight in CPU_ENTQ, x) on the CPU backend with `threads` threads; x is K x B.
std::vector<float> entq_buffer_mul_mat(const Loaded & w, const Coded & c, const std::vector<float> & x, uint32_t B, int threads) {
    ggml_backend_t be = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(be, threads);
    Ctx g(16 * ggml_tensor_overhead() + ggml_graph_overhead(), true);
    ggml_tensor * xt = ggml_new_tensor_2d(g.ctx, GGML_TYPE_F32, c.K, B);
    ggml_set_input(xt);
    ggml_tensor * y = ggml_mul_mat(g.ctx, w.view, xt);
    ggml_set_output(y);
    ggml_cgraph * gf = ggml_new_graph(g.ctx);
    ggml_build_forward_expand(gf, y);
    ggml_gallocr_t ga = ggml_gallocr_new(ggml_backend_cpu_buffer_type());
    std::vector<float> out;
    if (ggml_gallocr_alloc_graph(ga, gf)) {
        ggml_backend_tensor_set(xt, x.data(), 0, x.size() * sizeof(float));
        if (ggml_backend_graph_compute(be, gf) == GGML_STATUS_SUCCESS) {
            out.resize((size_t) c.N * B);
            ggml_backend_tensor_get(y, out.data(), 0, out.size() * sizeof(float));
        }
    }
    ggml_gallocr_free(ga);
    ggml_backend_free(be);
    return out;
}

// Expert ids for T tokens, n_used distinct experts each, drawn from the first `pool` experts only.
std::vector<int32_t> route(uint32_t pool, uint32_t n_used, uint32_t T, uint64_t seed) {
    entq_test::Rng rng(seed);
    std::vector<int32_t> ids((size_t) n_used * T);
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t u = 0; u < n_used; u++) {
            int32_t e;
            bool taken;
            do {
                e = (int32_t) (rng.uniform() * pool) % (int32_t) pool;
                taken = false;
                for (uint32_t v = 0; v < u; v++) taken |= ids[(size_t) t * n_used + v] == e;
            } while (taken);
            ids[(size_t) t * n_used + u] = e;
        }
    return ids;
}

// y = mul_mat_id(coded stack in w's buffer, x [K, xcols, T], ids [n_used, T]) on the CPU backend: [N / E, n_used, T].
std::vector<float> buffer_mul_mat_id(const Loaded & w, const Coded & c, const std::vector<float> & x, uint32_t xcols,
                                     const std::vector<int32_t> & ids, uint32_t n_used, uint32_t T, int threads) {
    ggml_backend_t be = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(be, threads);
    Ctx g(16 * ggml_tensor_overhead() + ggml_graph_overhead(), true);
    ggml_tensor * xt = ggml_new_tensor_3d(g.ctx, GGML_TYPE_F32, c.K, xcols, T);
    ggml_tensor * it = ggml_new_tensor_2d(g.ctx, GGML_TYPE_I32, n_used, T);
    ggml_set_input(xt);
    ggml_set_input(it);
    ggml_tensor * y = ggml_mul_mat_id(g.ctx, w.view, xt, it);
    ggml_set_output(y);
    ggml_cgraph * gf = ggml_new_graph(g.ctx);
    ggml_build_forward_expand(gf, y);
    ggml_gallocr_t ga = ggml_gallocr_new(ggml_backend_cpu_buffer_type());
    std::vector<float> out;
    if (ggml_backend_supports_op(be, y) && ggml_gallocr_alloc_graph(ga, gf)) {
        ggml_backend_tensor_set(xt, x.data(), 0, x.size() * sizeof(float));
        ggml_backend_tensor_set(it, ids.data(), 0, ids.size() * sizeof(int32_t));
        if (ggml_backend_graph_compute(be, gf) == GGML_STATUS_SUCCESS) {
            out.resize((size_t) (c.N / c.E) * n_used * T);
            ggml_backend_tensor_get(y, out.data(), 0, out.size() * sizeof(float));
        }
    }
    ggml_gallocr_free(ga);
    ggml_backend_free(be);
    return out;
}

// NMSE of a mul_mat_id result against the f64 reference over the dequantised experts.
double mul_mat_id_nmse(const Coded & c, const std::vector<float> & x, uint32_t xcols, const std::vector<int32_t> & ids, uint32_t n_used,
                       uint32_t T, const std::vector<float> & y) {
    const uint32_t Ne = c.N / c.E;
    double err = 0, ref2 = 0;
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t u = 0; u < n_used; u++) {
            const uint32_t e = (uint32_t) ids[(size_t) t * n_used + u];
            const float * xc = x.data() + ((size_t) t * xcols + u % xcols) * c.K;
            for (uint32_t n = 0; n < Ne; n++) {
                double ref = 0;
                for (uint32_t k = 0; k < c.K; k++) ref += (double) c.w[((size_t) e * Ne + n) * c.K + k] * xc[k];
                const double d = (double) y[((size_t) t * n_used + u) * Ne + n] - ref;
                err += d * d;
                ref2 += ref * ref;
            }
        }
    return ref2 > 0 ? err / ref2 : err;
}

}  // namespace

// MUL_MAT_ID on a coded [K, N, E] stack: the rANS path (plain CPU buffer) and the CPU layout (CPU_ENTQ), activations
// shared by the used experts (xcols 1, as up/gate) or one per used expert (as down), 1..3 threads.
TEST(entq_mul_mat_id_matches_f64_reference) {
    CHECK(entq_buft() != nullptr);
    struct Shape { uint32_t K, Ne, E, seg; };
    // experts whose rows do not fill whole layout groups (12 x R rows), ragged K
    const Shape shapes[] = {{33, 12, 4, 0}, {100, 40, 8, 1000}, {257, 30, 8, 2000}, {64, 1, 3, 0}};
    const uint32_t tokens[] = {1, 3, 17};
    uint64_t seed = 200;
    for (const Shape & s : shapes)
        for (uint32_t kind : {(uint32_t) ENTQ_CODES_INT8, (uint32_t) ENTQ_CODES_E4M3}) {
            Coded c = make_coded(s.K, s.Ne * s.E, kind, s.seg, seed++, kind == ENTQ_CODES_E4M3 ? 39 : 100, s.E);
            CHECKF(!c.stream.empty() && c.E == s.E, "encode K=%u Ne=%u E=%u", s.K, s.Ne, s.E);
            Loaded plain(c, c.stream, ggml_backend_cpu_buffer_type());
            Loaded layout(c, c.stream);
            CHECK(plain.error.empty() && layout.error.empty());
            for (uint32_t T : tokens)
                for (uint32_t xcols : {1u, 2u}) {
                    const uint32_t n_used = 2;
                    std::vector<float> x((size_t) c.K * xcols * T);
                    entq_test::Rng rng(seed++);
                    for (auto & v : x) v = (float) (rng.uniform() * 2 - 1);
                    const std::vector<int32_t> ids = route(s.E, n_used, T, seed++);
                    const int threads = 1 + (int) (seed % 3);
                    for (const Loaded * w : {&plain, &layout}) {
                        const std::vector<float> y = buffer_mul_mat_id(*w, c, x, xcols, ids, n_used, T, threads);
                        CHECKF(y.size() == (size_t) s.Ne * n_used * T, "K=%u Ne=%u E=%u T=%u: compute failed", s.K, s.Ne, s.E, T);
                        const double nmse = mul_mat_id_nmse(c, x, xcols, ids, n_used, T, y);
                        std::printf("  %-8s K=%-4u Ne=%-3u E=%u kind=%u T=%-3u xcols=%u threads=%d nmse=%.3g\n", w == &plain ? "rANS" : "CPU_ENTQ",
                                    s.K, s.Ne, s.E, kind, T, xcols, threads, nmse);
                        CHECKF(nmse < NMSE_MAX, "K=%u Ne=%u E=%u kind=%u T=%u: nmse %.3g", s.K, s.Ne, s.E, kind, T, nmse);
                    }
                }
        }
}

// Only the experts tokens route to are decoded: the last expert's segments are damaged (a rANS stream in a
// plain buffer is not checked when set), and a multiply routed around it still matches the reference; were
// that expert decoded, its lanes' end states would abort the process.
TEST(entq_mul_mat_id_decodes_only_routed_experts) {
    const uint32_t K = 64, Ne = 16, E = 4;
    Coded c = make_coded(K, Ne * E, ENTQ_CODES_INT8, 4 * K, 31, 100, E);
    CHECK(!c.stream.empty());
    entq_info in;
    CHECK(entq_parse(c.stream.data(), c.stream.size(), &in) == ENTQ_OK && in.n_seg == 4 * E);
    std::vector<uint8_t> damaged = c.stream;
    const uint32_t first_bad = (E - 1) * Ne / in.rows_per_seg;  // the last expert's first segment
    const uint64_t lo = in.payload_off + entq_rd32(c.stream.data() + in.index_off + 4 * (uint64_t) (first_bad - 1));
    for (uint64_t i = lo + ENTQ_SEGMENT_STATE_BYTES; i < damaged.size(); i += 3) damaged[i] ^= 0x5a;  // its words, not its states
    Loaded w(c, damaged, ggml_backend_cpu_buffer_type());
    CHECK(w.error.empty());
    for (uint32_t T : {1u, 5u}) {
        std::vector<float> x((size_t) K * T);
        entq_test::Rng rng(T);
        for (auto & v : x) v = (float) (rng.uniform() - 0.5);
        const std::vector<int32_t> ids = route(E - 1, 2, T, 40 + T);
        const std::vector<float> y = buffer_mul_mat_id(w, c, x, 1, ids, 2, T, 2);
        CHECK(y.size() == (size_t) Ne * 2 * T);
        CHECK(mul_mat_id_nmse(c, x, 1, ids, 2, T, y) < NMSE_MAX);
    }
}

TEST(entq_cpu_supports_mul_mat_id_only_in_kernel_shapes) {
    Coded c = make_coded(64, 8 * 4, ENTQ_CODES_INT8, 0, 3, 100, 4);
    Ctx g(1 << 20);
    ggml_tensor * w = coded_view(g.ctx, c);
    CHECK(w->ne[0] == 64 && w->ne[1] == 8 && w->ne[2] == 4 && ggml_nbytes(w) == c.stream.size());
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    ggml_tensor * x = ggml_new_tensor_3d(g.ctx, GGML_TYPE_F32, 64, 1, 5);
    // a stack is not one matrix: a batched mul_mat over it is refused
    CHECK(!ggml_backend_dev_supports_op(cpu, ggml_mul_mat(g.ctx, w, ggml_new_tensor_3d(g.ctx, GGML_TYPE_F32, 64, 5, 4))));
    for (int bad = -1; bad < 4; bad++) {
        ggml_tensor * ids = ggml_new_tensor_2d(g.ctx, GGML_TYPE_I32, 2, 5);
        ggml_tensor * mm = ggml_mul_mat_id(g.ctx, w, x, ids);
        switch (bad) {
            case 0: mm->ne[0] = 9; break;
            case 1: mm->ne[1] = 3; break;
            case 2: ids->type = GGML_TYPE_F32; break;
            case 3: x->ne[0] = 65; break;
        }
        CHECKF(ggml_backend_dev_supports_op(cpu, mm) == (bad < 0), "shape case %d", bad);
        x->ne[0] = 64;
    }
}

// The CPU layout path multiplies int16 activations (entq_layout_dot.h): each activation rounded to within
// amax(its 1024-block) / 65534, so an output may differ from the f64 reference by sum_k |w_k| amax_b(k) / 65534
// plus f32 rounding, and not more.
TEST(entq_cpu_layout_mul_mat_within_rounding_bounds) {
    CHECK(entq_buft() != nullptr);
    struct Shape { uint32_t K, N; };
    const Shape shapes[] = {{1, 1}, {17, 3}, {100, 1}, {255, 33}, {1000, 61}, {4097, 64}, {2048, 300}};
    const uint32_t batches[] = {1, 2, 7, 32, 130};
    uint64_t seed = 40;
    for (const Shape & s : shapes)
        for (uint32_t kind : {(uint32_t) ENTQ_CODES_INT8, (uint32_t) ENTQ_CODES_E4M3}) {
            Coded c = make_coded(s.K, s.N, kind, 0, seed++, kind == ENTQ_CODES_E4M3 ? 39 : 100);
            CHECK(!c.stream.empty());
            Loaded w(c, c.stream);
            CHECKF(w.error.empty(), "K=%u N=%u: %s", s.K, s.N, w.error.c_str());
            for (uint32_t B : batches) {
                entq_test::Rng rng(seed++);
                std::vector<float> x((size_t) c.K * B);
                for (auto & v : x) v = (float) ((rng.uniform() * 2 - 1) * (rng.uniform() < 0.01 ? 50 : 1));  // a few outliers
                const int threads = 1 + (int) (seed % 3);
                std::vector<float> y = entq_buffer_mul_mat(w, c, x, B, threads);
                CHECKF(y.size() == (size_t) c.N * B, "K=%u N=%u B=%u: compute failed", s.K, s.N, B);
                double worst = 0;
                std::vector<double> amax((c.K + 1023) / 1024);  // each activation's 1024-block maximum
                for (uint32_t b = 0; b < B; b++) {
                    std::fill(amax.begin(), amax.end(), 0.0);
                    for (uint32_t k = 0; k < c.K; k++) amax[k / 1024] = std::max(amax[k / 1024], (double) std::fabs(x[(size_t) b * c.K + k]));
                    for (uint32_t n = 0; n < c.N; n++) {
                        double ref = 0, mag = 0, act = 0;
                        for (uint32_t k = 0; k < c.K; k++) {
                            const double wk = c.w[(size_t) n * c.K + k], xk = x[(size_t) b * c.K + k];
                            ref += wk * xk;
                            mag += std::fabs(wk * xk);
                            act += std::fabs(wk) * amax[k / 1024];
                        }
                        const double bound = act / 65534 * 1.001 + (c.K / 8.0 + 16) * std::ldexp(mag + act, -24);
                        const double err = std::fabs(y[(size_t) b * c.N + n] - ref);
                        worst = std::max(worst, bound > 0 ? err / bound : err);
                        CHECKF(err <= bound, "K=%u N=%u kind %u B=%u row %u: |%g - %g| > %g", s.K, s.N, kind, B, n, (double) y[(size_t) b * c.N + n], ref, bound);
                    }
                }
                std::printf("  CPU_ENTQ K=%-5u N=%-3u kind=%u B=%-3u threads=%d: worst error %.3f of its bound\n", s.K, s.N, kind, B, threads, worst);
            }
        }
}

// Streams the layout cannot hold (here: a custom codebook, not one int8 grid) stay rANS streams in CPU_ENTQ
// and multiply as before; a damaged stream is refused when it is set, naming the tensor.
TEST(entq_cpu_buffer_keeps_or_refuses_streams) {
    Coded c = make_coded(300, 20, ENTQ_CODES_CUSTOM, 1000, 5);
    Loaded w(c, c.stream);
    CHECK(w.error.empty());
    std::vector<float> x(300 * 3, 0.5f);
    std::vector<float> y = entq_buffer_mul_mat(w, c, x, 3, 2);
    CHECK(y.size() == 60);
    CHECK(nmse_vs_f64(c, x.data(), y.data(), 3) < 1e-10);
    std::vector<float> y1 = entq_buffer_mul_mat(w, c, std::vector<float>(x.begin(), x.begin() + 300), 1, 2);
    CHECK(y1.size() == 20 && nmse_vs_f64(c, x.data(), y1.data(), 1) < 1e-10);

    Coded ok = make_coded(300, 20, ENTQ_CODES_INT8, 1000, 6);
    std::vector<uint8_t> bad = ok.stream;
    bad[bad.size() - 7] ^= 0x04;  // a payload bit: the checksum sees it
    Loaded refused(ok, bad);
    CHECKF(refused.error.find("blk.0.ffn_down.weight") != std::string::npos && refused.error.find("checksum") != std::string::npos,
           "error: '%s'", refused.error.c_str());
}

TEST(entq_validate_row_data_checks_stream) {
    Coded c = make_coded(50, 5, ENTQ_CODES_E4M3, 0, 9);
    CHECK(ggml_validate_row_data(GGML_TYPE_ENTQ, c.stream.data(), c.stream.size()));
    std::vector<uint8_t> bad = c.stream;
    bad[bad.size() - 3] ^= 0x10;  // payload bit flip: only the checksum sees it
    CHECK(!ggml_validate_row_data(GGML_TYPE_ENTQ, bad.data(), bad.size()));
    CHECK(!ggml_validate_row_data(GGML_TYPE_ENTQ, c.stream.data(), c.stream.size() - 1));
}
