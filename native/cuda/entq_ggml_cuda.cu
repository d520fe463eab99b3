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
//
// A stack of experts [K, N, E] (MUL_MAT_ID) is one stream of E x N rows whose
// segments never span two experts (docs/FORMAT.md); each expert is described
// to the kernels as a [K, N] matrix of its own. In the CUDA layout its tiles
// never span two experts either (entq_tile_expert). In place: its payload
// bytes, its row scales and its segments' index entries, rebased to its first
// segment (one device copy of the index per weight), sharing the slot table.
#include "entq_ggml_cuda.cuh"

#include <algorithm>
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
    std::vector<entq_tile_tensor> tile_experts;
    // or the stream in place (ENTGGUF_CUDA_LAYOUT=0)
    entq_cuda_tensor t;
    entq_lane_slot * table = nullptr;  // device, 2^prob_bits slots
    int * status = nullptr;            // device, entq_cuda status pair of the first multiply
    bool checked = false;              // ready: repacked, or first in-place multiply done with a clean status
    // a stack of experts in place: each one's descriptor and whether its first multiply was clean
    std::vector<entq_cuda_tensor> experts;
    std::vector<char> expert_checked;
    uint32_t * expert_index = nullptr;  // device, the index rebased per expert
    size_t n_experts() const { return layout ? tile_experts.size() : experts.size(); }
    ~entq_weight() {
        // the context may be gone at exit; errors here have no one to report to
        if (layout) cudaFree(layout);
        if (table) cudaFree(table);
        if (status) cudaFree(status);
        if (expert_index) cudaFree(expert_index);
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
    const uint32_t E = entq_ggml_stream_experts(w->ne[2]);
    if (!entq_tile_repack(host.data(), S, (uint32_t) w->ne[0], (uint32_t) (w->ne[1] * w->ne[2]), w->name, blob, &head, err, E)) {
        GGML_ABORT("entq: %s", err.c_str());
    }
    auto e = std::make_unique<entq_weight>();
    CUDA_CHECK(cudaMalloc(&e->layout, head.size));
    CUDA_CHECK(cudaMemcpyAsync(e->layout, blob.data(), head.size, cudaMemcpyHostToDevice, stream));
    entq_tile_describe(&head, e->layout, &e->tt);
    for (uint32_t x = 0; x < E; x++) e->tile_experts.push_back(entq_tile_expert(&e->tt, E, x));
    e->expert_checked.assign(E, 1);
    CUDA_CHECK(cudaStreamSynchronize(stream));  // `blob` goes out of scope
    const double n = (double) w->ne[0] * w->ne[1] * w->ne[2];
    GGML_LOG_DEBUG("entq: %s: CUDA layout %.3f bits/weight (stream %.3f)\n", w->name, 8.0 * head.size / n, 8.0 * S / n);
    e->checked = true;
    return e.release();
}

// The stream's header sections on the host: everything entq_parse reads lies
// before the payload, whose size the fixed header states. The host buffer spans
// the whole stream (calloc: untouched pages cost nothing), so a corrupt header
// that points past the copied bytes reads zeros, never outside the buffer.
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
    st = entq_parse_shape(host.get(), S, (uint32_t) w->ne[0], (uint32_t) (w->ne[1] * w->ne[2]), &in);
    if (st == ENTQ_OK && in.n_expert != entq_ggml_stream_experts(w->ne[2])) st = ENTQ_ERR_SHAPE;
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
    std::vector<uint32_t> rebased;
    if (in.n_expert) {
        const uint32_t E = in.n_expert, per = in.n_seg / E, rows = in.N / E;
        rebased.resize(in.n_seg);
        for (uint32_t x = 0; x < E; x++) {
            const uint32_t s0 = x * per;
            const uint32_t begin = s0 ? entq_rd32(host.get() + in.index_off + 4 * (uint64_t) (s0 - 1)) : 0;
            for (uint32_t j = 0; j < per; j++) rebased[s0 + j] = entq_rd32(host.get() + in.index_off + 4 * (uint64_t) (s0 + j)) - begin;
            entq_cuda_tensor te = e->t;
            te.payload += begin;  // a multiple of 4: index entries are
            te.scales += (size_t) x * rows;
            te.N = rows;
            te.n_seg = per;
            e->experts.push_back(te);
        }
        CUDA_CHECK(cudaMalloc(&e->expert_index, rebased.size() * sizeof(uint32_t)));
        CUDA_CHECK(cudaMemcpyAsync(e->expert_index, rebased.data(), rebased.size() * sizeof(uint32_t), cudaMemcpyHostToDevice, stream));
        for (uint32_t x = 0; x < E; x++) e->experts[x].index = e->expert_index + (size_t) x * per;
        e->expert_checked.assign(E, 0);
    }
    CUDA_CHECK(cudaStreamSynchronize(stream));  // `slots` and `rebased` go out of scope
    return e.release();
}

entq_weight * lookup(const ggml_tensor * w, int device) {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find({device, w->data});
    return it == cache.end() ? nullptr : it->second.get();
}

// The cached weight, prepared on its first multiply.
entq_weight * weight_for(const ggml_tensor * src0, int device, cudaStream_t stream) {
    entq_weight * w = lookup(src0, device);
    if (w) return w;
    entq_weight * fresh = prepare(src0, device, stream);
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto & slot = cache[{device, src0->data}];
    if (!slot) slot.reset(fresh);
    else delete fresh;  // another context prepared it meanwhile
    return slot.get();
}

// y (N x ncols, column-major) = W x (K x ncols, column-major), W the weight
// or (expert >= 0) one of its experts, in the CUDA layout or in place.
void multiply(ggml_backend_cuda_context & ctx, const entq_weight & w, int expert, const float * x, uint32_t ncols, float * y) {
    cudaStream_t stream = ctx.stream();
    const bool tiled = w.layout != nullptr;
    const entq_tile_tensor & tt = expert < 0 ? w.tt : w.tile_experts[expert];
    const entq_cuda_tensor & t = expert < 0 ? w.t : w.experts[expert];
    const uint32_t K = tiled ? tt.K : t.K, N = tiled ? tt.N : t.N;
    if (ncols <= ENTQ_GGML_CUDA_GEMV_MAX_COLS) {
        if (tiled) CUDA_CHECK(entq_tile_cuda_gemv(&tt, x, K, y, N, ncols, stream));
        else CUDA_CHECK(entq_cuda_gemv(&t, x, K, y, N, ncols, w.status, stream));
        return;
    }
    // W's codebook values as f16 rows and the activations as f16 (as ggml's cuBLAS path does for
    // quantised weights), one tensor-core GEMM with f32 accumulation, then the row scales
    const uint32_t ld = (K + 7) & ~7u;  // 16-byte rows for the tensor cores
    ggml_cuda_pool_alloc<half> wf(ctx.pool(), (size_t) N * ld);
    ggml_cuda_pool_alloc<half> xf(ctx.pool(), (size_t) ncols * ld);
    if (tiled) CUDA_CHECK(entq_tile_cuda_decode_f16(&tt, (uint16_t *) wf.get(), ld, stream));
    else CUDA_CHECK(entq_cuda_decode_f16(&t, (uint16_t *) wf.get(), ld, w.status, stream));
    CUDA_CHECK(entq_cuda_f32_to_f16(x, K, (uint16_t *) xf.get(), ld, K, ncols, stream));
    const float alpha = 1.0f, beta = 0.0f;
    // column-major view: Y (N x ncols) = Wᵀ-stored (K x N)ᵀ · X (K x ncols)
    CUBLAS_CHECK(cublasGemmEx(ctx.cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, (int) N, (int) ncols, (int) K, &alpha,
                              wf.get(), CUDA_R_16F, (int) ld, xf.get(), CUDA_R_16F, (int) ld, &beta, y, CUDA_R_32F,
                              (int) N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT_TENSOR_OP));
    if (tiled) CUDA_CHECK(entq_cuda_scale_rows_by(tt.scales, tt.scale_base, N, y, N, ncols, stream));
    else CUDA_CHECK(entq_cuda_scale_rows(&t, y, N, ncols, stream));
}

// After a weight's (or an expert's) first multiply, which decoded every one of its segments: its lanes'
// end states say whether the payload was intact. `expert` < 0 for a matrix.
void check_first(const ggml_tensor * src0, int * d_status, int expert, cudaStream_t stream) {
    int status[2];
    CUDA_CHECK(cudaMemcpyAsync(status, d_status, sizeof(status), cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (status[0] != ENTQ_OK) {
        char what[160];
        if (expert < 0) snprintf(what, sizeof(what), "segment %d: %s", status[1], entq_status_str(status[0]));
        else snprintf(what, sizeof(what), "expert %d, its segment %d: %s", expert, status[1], entq_status_str(status[0]));
        fail(src0, what);
    }
}

// dst[c][k] = *(src + off[c] + k) for the routed columns: an expert's activations, side by side.
__global__ void gather_columns(const char * src, const int64_t * off, uint32_t K, float * dst) {
    const float * col = (const float *) (src + off[blockIdx.x]);
    for (uint32_t k = threadIdx.x; k < K; k += blockDim.x) dst[(size_t) blockIdx.x * K + k] = col[k];
}

// *(dst + off[c] + r) = src[c][r]: an expert's results back to their tokens' slots.
__global__ void scatter_columns(const float * src, uint32_t N, const int64_t * off, char * dst) {
    float * col = (float *) (dst + off[blockIdx.x]);
    for (uint32_t r = threadIdx.x; r < N; r += blockDim.x) col[r] = src[(size_t) blockIdx.x * N + r];
}

}  // namespace

bool entq_ggml_cuda_supports_op(const ggml_tensor * op) {
    const ggml_tensor * w = op->src[0];
    const ggml_tensor * x = op->src[1];
    if (op->op == GGML_OP_GET_ROWS) {
        // ids [n] picks rows of W [K, N] into dst [K, n]: the shapes the kernel writes by
        return w && x && w->type == GGML_TYPE_ENTQ && x->type == GGML_TYPE_I32 && op->type == GGML_TYPE_F32 && w->ne[2] == 1 &&
               w->ne[3] == 1 && w->ne[0] <= UINT32_MAX && w->ne[1] <= UINT32_MAX && x->ne[1] == 1 && x->ne[2] == 1 && x->ne[3] == 1 &&
               x->ne[0] <= UINT32_MAX && ggml_is_contiguous(x) && op->ne[0] == w->ne[0] && op->ne[1] == x->ne[0] && op->ne[2] == 1 &&
               op->ne[3] == 1 && op->nb[0] == sizeof(float) && op->nb[1] % sizeof(float) == 0;
    }
    if (op->type == GGML_TYPE_ENTQ || (op->op != GGML_OP_MUL_MAT && op->op != GGML_OP_MUL_MAT_ID)) return false;
    if (!w || !x || w->type != GGML_TYPE_ENTQ || x->type != GGML_TYPE_F32 || op->type != GGML_TYPE_F32) return false;
    if (w->ne[3] != 1 || w->ne[0] > UINT32_MAX || w->ne[1] * w->ne[2] > UINT32_MAX) return false;
    // every shape the kernels index by: a malformed graph (e.g. received over RPC) is refused, not run
    if (x->ne[0] != w->ne[0] || op->ne[0] != w->ne[1]) return false;
    if (op->op == GGML_OP_MUL_MAT) {
        if (w->ne[2] != 1 || op->ne[1] != x->ne[1] || op->ne[2] != x->ne[2] || op->ne[3] != x->ne[3]) return false;
        return ggml_is_contiguous(x) && ggml_is_contiguous(op);
    }
    // ids [n_used, n_tokens]; x [K, 1 or n_used, n_tokens]; dst [N, n_used, n_tokens]
    const ggml_tensor * ids = op->src[2];
    return ids && ids->type == GGML_TYPE_I32 && ids->nb[0] == sizeof(int32_t) && ids->ne[2] == 1 && ids->ne[3] == 1 &&
           w->ne[2] <= 65535 && x->ne[3] == 1 && x->ne[1] >= 1 && ids->ne[0] % x->ne[1] == 0 && ids->ne[1] == x->ne[2] &&
           op->ne[1] == ids->ne[0] && op->ne[2] == ids->ne[1] && op->ne[3] == 1 && x->nb[0] == sizeof(float) &&
           op->nb[0] == sizeof(float);
}

void entq_ggml_cuda_mul_mat(ggml_backend_cuda_context & ctx, const ggml_tensor * src0, const ggml_tensor * src1, ggml_tensor * dst) {
    GGML_ASSERT(entq_ggml_cuda_supports_op(dst) && dst->op == GGML_OP_MUL_MAT && src0->buffer);
    cudaStream_t stream = ctx.stream();
    entq_weight * w = weight_for(src0, ctx.device, stream);
    multiply(ctx, *w, -1, (const float *) src1->data, (uint32_t) ggml_nrows(src1), (float *) dst->data);
    if (!w->checked) {
        check_first(src0, w->status, -1, stream);
        w->checked = true;
    }
}

void entq_ggml_cuda_mul_mat_id(ggml_backend_cuda_context & ctx, ggml_tensor * dst) {
    const ggml_tensor * src0 = dst->src[0];
    const ggml_tensor * src1 = dst->src[1];
    const ggml_tensor * ids = dst->src[2];
    GGML_ASSERT(entq_ggml_cuda_supports_op(dst) && dst->op == GGML_OP_MUL_MAT_ID && src0->buffer);
    cudaStream_t stream = ctx.stream();
    entq_weight * w = weight_for(src0, ctx.device, stream);
    const int64_t E = src0->ne[2], n_used = ids->ne[0], n_tok = ids->ne[1];
    if ((int64_t) w->n_experts() != E) fail(src0, "a stack of experts whose stream holds another number of experts");

    // the routing, on the host
    std::vector<int32_t> h_ids((size_t) n_used * n_tok);
    CUDA_CHECK(cudaMemcpy2DAsync(h_ids.data(), n_used * sizeof(int32_t), ids->data, ids->nb[1], n_used * sizeof(int32_t), n_tok,
                                 cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    // each expert's columns: byte offsets of their activations in src1 and of their results in dst
    std::vector<uint32_t> first(E + 1, 0);
    for (int32_t e : h_ids) {
        if (e < 0 || e >= E) {
            char what[96];
            snprintf(what, sizeof(what), "expert id %d out of range [0, %lld)", e, (long long) E);
            fail(src0, what);
        }
        first[e + 1]++;
    }
    for (int64_t e = 0; e < E; e++) first[e + 1] += first[e];
    const uint32_t n_cols = first[E];
    std::vector<int64_t> offs(2 * (size_t) n_cols);  // [x offsets | y offsets]
    std::vector<uint32_t> fill(first.begin(), first.end() - 1);
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t u = 0; u < n_used; u++) {
            const uint32_t c = fill[h_ids[(size_t) t * n_used + u]]++;
            offs[c] = (u % src1->ne[1]) * (int64_t) src1->nb[1] + t * (int64_t) src1->nb[2];
            offs[n_cols + c] = u * (int64_t) dst->nb[1] + t * (int64_t) dst->nb[2];
        }
    ggml_cuda_pool_alloc<int64_t> d_offs(ctx.pool(), offs.size());
    // from pageable memory: the call returns once `offs` is staged
    CUDA_CHECK(cudaMemcpyAsync(d_offs.get(), offs.data(), offs.size() * sizeof(int64_t), cudaMemcpyHostToDevice, stream));

    const uint32_t K = (uint32_t) src0->ne[0], N = (uint32_t) src0->ne[1];
    uint32_t most = 0;
    for (int64_t e = 0; e < E; e++) most = std::max(most, first[e + 1] - first[e]);
    ggml_cuda_pool_alloc<float> xg(ctx.pool(), (size_t) K * most);
    ggml_cuda_pool_alloc<float> yg(ctx.pool(), (size_t) N * most);
    for (int64_t e = 0; e < E; e++) {
        const uint32_t n = first[e + 1] - first[e];
        if (n == 0) continue;  // no token routes here: not decoded
        gather_columns<<<n, 256, 0, stream>>>((const char *) src1->data, d_offs.get() + first[e], K, xg.get());
        CUDA_CHECK(cudaGetLastError());
        multiply(ctx, *w, (int) e, xg.get(), n, yg.get());
        scatter_columns<<<n, 256, 0, stream>>>(yg.get(), N, d_offs.get() + n_cols + first[e], (char *) dst->data);
        CUDA_CHECK(cudaGetLastError());
        if (!w->expert_checked[e]) {
            check_first(src0, w->status, (int) e, stream);
            w->expert_checked[e] = 1;
        }
    }
}

void entq_ggml_cuda_get_rows(ggml_backend_cuda_context & ctx, ggml_tensor * dst) {
    const ggml_tensor * src0 = dst->src[0];
    const ggml_tensor * ids = dst->src[1];
    GGML_ASSERT(entq_ggml_cuda_supports_op(dst) && dst->op == GGML_OP_GET_ROWS && src0->buffer);
    cudaStream_t stream = ctx.stream();
    entq_weight * w = weight_for(src0, ctx.device, stream);
    if (!w->layout) fail(src0, "GET_ROWS on a coded weight needs the CUDA layout (ENTGGUF_CUDA_LAYOUT=0 is set)");
    ggml_cuda_pool_alloc<int> bad(ctx.pool(), 2);
    CUDA_CHECK(cudaMemsetAsync(bad.get(), 0, 2 * sizeof(int), stream));
    CUDA_CHECK(entq_tile_cuda_get_rows(&w->tt, (const int32_t *) ids->data, (uint32_t) ids->ne[0], (float *) dst->data,
                                       dst->nb[1] / sizeof(float), bad.get(), stream));
    int h_bad[2];
    CUDA_CHECK(cudaMemcpyAsync(h_bad, bad.get(), sizeof(h_bad), cudaMemcpyDeviceToHost, stream));
    CUDA_CHECK(cudaStreamSynchronize(stream));
    if (h_bad[0]) {
        char what[96];
        snprintf(what, sizeof(what), "row %d asked for, the weight has %lld", h_bad[1], (long long) src0->ne[1]);
        fail(src0, what);
    }
}

bool entq_ggml_cuda_graph_ready(const ggml_cgraph * cgraph) {
    int device = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    for (int i = 0; i < cgraph->n_nodes; i++) {
        const ggml_tensor * node = cgraph->nodes[i];
        if (node->op == GGML_OP_GET_ROWS && node->src[0] && node->src[0]->type == GGML_TYPE_ENTQ) return false;
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
