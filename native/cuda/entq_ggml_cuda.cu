// entq_ggml_cuda.cu - ggml-cuda's side of GGML_TYPE_ENTQ (API in entq_ggml_cuda.cuh).
//
// A coded weight lives in a CUDA buffer as its stream's bytes (the blob the
// loader uploads, in chunks and possibly asynchronously; ggml_nbytes = the
// stream size). Each weight gets a cache entry on its first multiply, keyed by
// (device, address). By default the entry holds the weight's CUDA layout
// (native/cuda/entq_tile.h: every lane its own rANS stream, ~13 SASS
// instructions per weight instead of ~25): the stream is copied back once,
// decoded by the reference decoder (a corrupt stream aborts naming the tensor
// and segment), re-encoded (entq_tile_repack.h) and uploaded to an allocation
// of its exact size. ENTGGUF_CUDA_LAYOUT=0 keeps the older path instead: the
// kernels of entq_cuda.cu decode the stream where it lies (no second copy of
// the weights, ~2x slower decode), with the header parsed and the slot table
// uploaded on the first multiply. Entries die with their buffer
// (entq_ggml_cuda_forget from free_buffer), so a later model placed at the
// same address never meets a stale layout or table.
#include "entq_ggml_cuda.cuh"

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda/entq_cuda.h"
#include "cuda/entq_tile_cuda.h"
#include "cuda/entq_tile_repack.h"
#include "ggml/entq_ggml.h"

// Up to this many activation columns the fused GEMV wins: it decodes W once per
// group of 8 columns, and on an H100 the in-place kernel's B=2 costs ~1.1x B=1
// while B=8 costs ~2x (native/cuda/NOTES.md); from there on decode to f16 (~1x
// B=1) + cuBLAS wins. Not yet timed for the lane-stream kernel, whose loop
// issues ~3.2x B=1's instructions at B=8 (npm run bench:cuda-sass).
#define ENTQ_GGML_CUDA_GEMV_MAX_COLS 4

namespace {

struct entq_weight {
    // the CUDA layout (default)
    uint8_t * layout = nullptr;        // device, the layout's exact bytes
    entq_tile_tensor tt;
    // or the stream in place (ENTGGUF_CUDA_LAYOUT=0)
    entq_cuda_tensor t;
    entq_lane_slot * table = nullptr;  // device, 2^prob_bits slots
    int * status = nullptr;            // device, entq_cuda status pair of the first multiply
    bool checked = false;              // ready: repacked, or first in-place multiply done with a clean status
    ~entq_weight() {
        // the context may be gone at exit; errors here have no one to report to
        if (layout) cudaFree(layout);
        if (table) cudaFree(table);
        if (status) cudaFree(status);
    }
};

bool layout_enabled() {
    const char * v = std::getenv("ENTGGUF_CUDA_LAYOUT");
    return !(v && (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "rans")));
}

struct entq_key {
    int device;
    const void * data;
    bool operator<(const entq_key & o) const { return device != o.device ? device < o.device : data < o.data; }
};

std::mutex cache_mutex;
std::map<entq_key, std::unique_ptr<entq_weight>> cache;

[[noreturn]] void fail(const ggml_tensor * w, const char * what) {
    GGML_ABORT("entq: tensor '%s': %s", w->name, what);
}

// The stream's header sections on the host: everything entq_parse reads lies
// before the payload, whose size the fixed header states. The host buffer spans
// the whole stream (calloc: untouched pages cost nothing), so a corrupt header
// that points past the copied bytes reads zeros, never outside the buffer.
// The CUDA layout: the whole stream copied back once (the first multiply
// synchronises anyway), repacked on the host, uploaded at its exact size.
entq_weight * prepare_layout(const ggml_tensor * w, cudaStream_t stream) {
    const size_t S = ggml_nbytes(w);
    std::vector<uint8_t> host(S > 0 ? S : 1);
    CUDA_CHECK(cudaMemcpyAsync(host.data(), w->data, S, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<entq_tile_chunk> blob;
    entq_tile_head head;
    std::string err;
    if (!entq_tile_repack(host.data(), S, (uint32_t) w->ne[0], (uint32_t) w->ne[1], w->name, blob, &head, err)) {
        GGML_ABORT("entq: %s", err.c_str());
    }
    auto e = std::make_unique<entq_weight>();
    CUDA_CHECK(cudaMalloc(&e->layout, head.size));
    CUDA_CHECK(cudaMemcpyAsync(e->layout, blob.data(), head.size, cudaMemcpyHostToDevice, stream));
    entq_tile_describe(&head, e->layout, &e->tt);
    CUDA_CHECK(cudaStreamSynchronize(stream));  // `blob` goes out of scope
    GGML_LOG_DEBUG("entq: %s: CUDA layout %.3f bits/weight (stream %.3f)\n", w->name,
                   8.0 * head.size / ((double) w->ne[0] * w->ne[1]), 8.0 * S / ((double) w->ne[0] * w->ne[1]));
    e->checked = true;
    return e.release();
}

entq_weight * prepare(const ggml_tensor * w, int device, cudaStream_t stream) {
    (void) device;
    if (layout_enabled()) return prepare_layout(w, stream);
    const size_t S = ggml_nbytes(w);
    const uint8_t * d_stream = (const uint8_t *) w->data;
    std::unique_ptr<uint8_t, void (*)(void *)> host((uint8_t *) calloc(S > 0 ? S : 1, 1), free);
    if (!host) fail(w, "out of host memory for its header");
    const size_t fixed = S < ENTQ_FIXED_HEADER_BYTES ? S : ENTQ_FIXED_HEADER_BYTES;
    CUDA_CHECK(cudaMemcpyAsync(host.get(), d_stream, fixed, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    entq_info in;
    int st = entq_parse_fixed(host.get(), S, &in);
    if (st != ENTQ_OK) fail(w, entq_status_str(st));
    if (in.payload_bytes > S - ENTQ_FIXED_HEADER_BYTES) fail(w, entq_status_str(ENTQ_ERR_TRUNCATED));
    const size_t header = S - in.payload_bytes;
    CUDA_CHECK(cudaMemcpyAsync(host.get(), d_stream, header, cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    st = entq_parse_shape(host.get(), S, (uint32_t) w->ne[0], (uint32_t) w->ne[1], &in);
    if (st != ENTQ_OK) fail(w, entq_status_str(st));

    auto e = std::make_unique<entq_weight>();
    std::vector<entq_lane_slot> slots((size_t) 1 << in.prob_bits);
    entq_lane_build_table(&in, host.get(), slots.data(), nullptr);
    CUDA_CHECK(cudaMalloc(&e->table, slots.size() * sizeof(entq_lane_slot)));
    CUDA_CHECK(cudaMemcpyAsync(e->table, slots.data(), slots.size() * sizeof(entq_lane_slot), cudaMemcpyHostToDevice, stream));
    CUDA_CHECK(cudaMalloc(&e->status, 2 * sizeof(int)));
    CUDA_CHECK(entq_cuda_status_reset(e->status, stream));
    st = entq_cuda_describe(&in, d_stream, e->table, nullptr, &e->t);
    if (st != ENTQ_OK) fail(w, entq_status_str(st));
    CUDA_CHECK(cudaStreamSynchronize(stream));  // `slots` goes out of scope
    return e.release();
}

entq_weight * lookup(const ggml_tensor * w, int device) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find({device, w->data});
    return it == cache.end() ? nullptr : it->second.get();
}

}  // namespace

bool entq_ggml_cuda_supports_op(const ggml_tensor * op) {
    if (op->type == GGML_TYPE_ENTQ || op->op != GGML_OP_MUL_MAT) return false;
    const ggml_tensor * w = op->src[0];
    const ggml_tensor * x = op->src[1];
    if (!w || !x || w->type != GGML_TYPE_ENTQ || x->type != GGML_TYPE_F32 || op->type != GGML_TYPE_F32) return false;
    if (w->ne[2] != 1 || w->ne[3] != 1 || w->ne[0] > UINT32_MAX || w->ne[1] > UINT32_MAX) return false;
    // every shape the kernels index by: a malformed graph (e.g. received over RPC) is refused, not run
    if (x->ne[0] != w->ne[0] || op->ne[0] != w->ne[1] || op->ne[1] != x->ne[1] || op->ne[2] != x->ne[2] || op->ne[3] != x->ne[3]) return false;
    return ggml_is_contiguous(x) && ggml_is_contiguous(op);
}

void entq_ggml_cuda_mul_mat(ggml_backend_cuda_context & ctx, const ggml_tensor * src0, const ggml_tensor * src1, ggml_tensor * dst) {
    GGML_ASSERT(entq_ggml_cuda_supports_op(dst) && src0->buffer);
    cudaStream_t stream = ctx.stream();
    entq_weight * w = lookup(src0, ctx.device);
    if (!w) {
        entq_weight * fresh = prepare(src0, ctx.device, stream);
        std::lock_guard<std::mutex> lock(cache_mutex);
        auto & slot = cache[{ctx.device, src0->data}];
        if (!slot) slot.reset(fresh);
        else delete fresh;  // another context prepared it meanwhile
        w = slot.get();
    }
    const uint32_t ncols = (uint32_t) ggml_nrows(src1);
    const float * x = (const float *) src1->data;
    float * y = (float *) dst->data;
    const bool tiled = w->layout != nullptr;
    const uint32_t K = tiled ? w->tt.K : w->t.K, N = tiled ? w->tt.N : w->t.N;

    if (ncols <= ENTQ_GGML_CUDA_GEMV_MAX_COLS) {
        if (tiled) CUDA_CHECK(entq_tile_cuda_gemv(&w->tt, x, K, y, N, ncols, stream));
        else CUDA_CHECK(entq_cuda_gemv(&w->t, x, K, y, N, ncols, w->status, stream));
    } else {
        // W's codebook values as f16 rows and the activations as f16 (as ggml's cuBLAS path does for
        // quantised weights), one tensor-core GEMM with f32 accumulation, then the row scales
        const uint32_t ld = (K + 7) & ~7u;  // 16-byte rows for the tensor cores
        ggml_cuda_pool_alloc<half> wf(ctx.pool(), (size_t) N * ld);
        ggml_cuda_pool_alloc<half> xf(ctx.pool(), (size_t) ncols * ld);
        if (tiled) CUDA_CHECK(entq_tile_cuda_decode_f16(&w->tt, (uint16_t *) wf.get(), ld, stream));
        else CUDA_CHECK(entq_cuda_decode_f16(&w->t, (uint16_t *) wf.get(), ld, w->status, stream));
        CUDA_CHECK(entq_cuda_f32_to_f16(x, K, (uint16_t *) xf.get(), ld, K, ncols, stream));
        const float alpha = 1.0f, beta = 0.0f;
        // column-major view: Y (N x ncols) = Wᵀ-stored (K x N)ᵀ · X (K x ncols)
        CUBLAS_CHECK(cublasGemmEx(ctx.cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, (int) N, (int) ncols, (int) K, &alpha,
                                  wf.get(), CUDA_R_16F, (int) ld, xf.get(), CUDA_R_16F, (int) ld, &beta, y, CUDA_R_32F,
                                  (int) N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT_TENSOR_OP));
        if (tiled) CUDA_CHECK(entq_cuda_scale_rows_by(w->tt.scales, w->tt.scale_base, N, y, N, ncols, stream));
        else CUDA_CHECK(entq_cuda_scale_rows(&w->t, y, N, ncols, stream));
    }

    if (!w->checked) {
        // every segment was just decoded in place: its lane end states say whether the payload was intact
        int status[2];
        CUDA_CHECK(cudaMemcpyAsync(status, w->status, sizeof(status), cudaMemcpyDeviceToHost, stream));
        CUDA_CHECK(cudaStreamSynchronize(stream));
        if (status[0] != ENTQ_OK) {
            char what[128];
            snprintf(what, sizeof(what), "segment %d: %s", status[1], entq_status_str(status[0]));
            fail(src0, what);
        }
        w->checked = true;
    }
}

bool entq_ggml_cuda_graph_ready(const ggml_cgraph * cgraph) {
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    for (int i = 0; i < cgraph->n_nodes; i++) {
        const ggml_tensor * node = cgraph->nodes[i];
        if (node->op != GGML_OP_MUL_MAT || !node->src[0] || node->src[0]->type != GGML_TYPE_ENTQ) continue;
        const entq_weight * w = lookup(node->src[0], device);
        if (!w || !w->checked) return false;
    }
    return true;
}

void entq_ggml_cuda_forget(int device, const void * base, size_t size) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    const uint8_t * lo = (const uint8_t *) base;
    for (auto it = cache.lower_bound({device, lo}); it != cache.end() && it->first.device == device &&
                                                    (const uint8_t *) it->first.data < lo + size;) {
        it = cache.erase(it);
    }
}
