// entq_ggml_metal.cpp - ggml-metal's side of GGML_TYPE_ENTQ (API in entq_ggml_metal.h).
//
// A coded weight lives in a Metal buffer as its stream's bytes (ggml_nbytes =
// the stream size; with mmap the buffer wraps the file's pages). Each weight
// gets a cache entry on its first multiply, keyed by (device, address): its
// stream read from shared memory, decoded by the reference decoder,
// re-encoded as the GPU layout of tiles of lane streams (native/cuda/
// entq_tile_repack.h, the layout the CUDA backend runs) into page-aligned host
// memory mapped as a Metal buffer of its own. Entries die with the weight's
// buffer (entq_ggml_metal_forget from free_buffer), so a later weight at the
// same address never meets a stale layout. Command buffers are encoded on several threads: the cache and the
// per-device library sit behind one mutex.
#include "entq_ggml_metal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ggml-backend-impl.h"
#include "ggml-impl.h"
#include "ggml-metal-common.h"
#include "ggml-metal-impl.h"

#include "cuda/entq_tile_repack.h"
#include "ggml/entq_ggml.h"
#include "metal/entq_metal_dispatch.h"
#include "entq_metal_source.h"  // generated: entq_tile.metal as a string (embed_metal_source.cmake)

// Up to this many activation columns a GEMV kernel takes at once; larger batches
// decode the weight to f16 rows and run ggml's mul_mm where it applies (as ggml's
// own mul_mv_ext stops at 8).
#define ENTQ_METAL_GEMV_COLS 8

namespace {

// Our kernels on one device: compiled once, or marked failed for good.
struct entq_kernels {
    ggml_metal_library_t lib = nullptr;
    bool failed = false;
    ggml_metal_pipeline_with_params gemv[ENTQ_METAL_GEMV_COLS];
    ggml_metal_pipeline_with_params f16, scale_rows;
};

struct entq_weight {
    void * host = nullptr;              // the layout, page-aligned host memory we own ...
    ggml_metal_buffer_t buf = nullptr;  // ... wrapped as a shared Metal buffer
    ggml_metal_buffer_id id = {nullptr, 0};
    entq_tile_head head;
    ~entq_weight() {
        if (buf) ggml_metal_buffer_free(buf);  // a mapped buffer leaves the memory to us
        free(host);
    }
};

struct entq_key {
    ggml_metal_device_t dev;
    const void * data;
    bool operator<(const entq_key & o) const { return dev != o.dev ? dev < o.dev : data < o.data; }
};

std::mutex mutex;
std::map<ggml_metal_device_t, entq_kernels> kernels;
std::map<entq_key, std::unique_ptr<entq_weight>> cache;

[[noreturn]] void fail(const ggml_tensor * w, const char * what) {
    GGML_ABORT("entq: tensor '%s': %s", w->name, what);
}

// Builds the kernels on first use; nullptr when they do not compile here.
const entq_kernels * kernels_for(ggml_metal_device_t dev) {
    std::lock_guard<std::mutex> lock(mutex);
    entq_kernels & k = kernels[dev];
    if (k.lib || k.failed) return k.failed ? nullptr : &k;
    k.lib = ggml_metal_library_init_from_source(dev, entq_metal_source, true);
    bool ok = k.lib != nullptr;
    auto pipeline = [&](const char * name) {
        ggml_metal_pipeline_with_params p = ok ? ggml_metal_library_compile_pipeline(k.lib, name, name, nullptr) : ggml_metal_pipeline_with_params{};
        ok = ok && p.pipeline != nullptr;
        return p;
    };
    for (int b = 1; b <= ENTQ_METAL_GEMV_COLS; b++) {
        const std::string name = "kernel_entq_tile_gemv_" + std::to_string(b);
        k.gemv[b - 1] = pipeline(name.c_str());
    }
    k.f16 = pipeline("kernel_entq_tile_f16");
    k.scale_rows = pipeline("kernel_entq_scale_rows");
    if (!ok) {
        GGML_LOG_ERROR("entq: the Metal kernels for coded weights did not build on this device; coded weights stay on the CPU\n");
        if (k.lib) ggml_metal_library_free(k.lib);
        k.lib = nullptr;
        k.failed = true;
        return nullptr;
    }
    return &k;
}

// A byte range of a Metal buffer, as a tensor ggml's buffer calls understand.
ggml_tensor bytes_of(void * data, size_t size) {
    ggml_tensor t = {};
    t.type = GGML_TYPE_I8;
    t.ne[0] = (int64_t) size;
    t.ne[1] = t.ne[2] = t.ne[3] = 1;
    t.nb[0] = 1;
    t.nb[1] = t.nb[2] = t.nb[3] = size;
    t.data = data;
    return t;
}

ggml_metal_buffer_id buffer_id(const ggml_tensor * t) {
    ggml_backend_buffer_t b = t->view_src ? t->view_src->buffer : t->buffer;
    return ggml_metal_buffer_get_id((ggml_metal_buffer_t) b->context, t);
}

// Nothing here waits for the GPU: the command buffers being encoded are already enqueued, so a blit
// submitted now would wait behind them forever. The stream is read from shared memory (supports_op refuses
// private buffers) and the layout is host memory mapped as a shared Metal buffer.
std::unique_ptr<entq_weight> prepare(ggml_metal_device_t dev, const ggml_tensor * w) {
    const ggml_backend_buffer_t b = w->view_src ? w->view_src->buffer : w->buffer;
    if (!ggml_metal_buffer_is_shared((ggml_metal_buffer_t) b->context)) fail(w, "a coded weight in a private Metal buffer");
    const size_t S = ggml_nbytes(w);
    std::vector<entq_tile_chunk> blob;
    auto e = std::make_unique<entq_weight>();
    std::string err;
    if (!entq_tile_repack((const uint8_t *) w->data, S, (uint32_t) w->ne[0], (uint32_t) w->ne[1], w->name, blob, &e->head, err)) {
        GGML_ABORT("entq: %s", err.c_str());
    }
    const size_t page = (size_t) sysconf(_SC_PAGESIZE), size = (e->head.size + page - 1) / page * page;
    if (posix_memalign(&e->host, page, size) != 0) fail(w, "no memory for its Metal layout");
    memcpy(e->host, blob.data(), e->head.size);
    memset((char *) e->host + e->head.size, 0, size - e->head.size);
    e->buf = ggml_metal_buffer_map(dev, e->host, size, size);
    if (!e->buf) fail(w, "could not map its Metal layout");
    ggml_tensor all = bytes_of(e->host, e->head.size);
    e->id = ggml_metal_buffer_get_id(e->buf, &all);
    if (!e->id.metal) fail(w, "its Metal layout has no buffer");
    const double n = (double) w->ne[0] * w->ne[1];
    GGML_LOG_DEBUG("entq: %s: Metal layout %.3f bits/weight (stream %.3f)\n", w->name, 8.0 * e->head.size / n, 8.0 * S / n);
    return e;
}

const entq_weight & weight_for(ggml_metal_device_t dev, const ggml_tensor * w) {
    {
        std::lock_guard<std::mutex> lock(mutex);
        auto it = cache.find({dev, w->data});
        if (it != cache.end()) return *it->second;
    }
    std::unique_ptr<entq_weight> fresh = prepare(dev, w);  // outside the lock: a weight takes a while
    std::lock_guard<std::mutex> lock(mutex);
    auto & slot = cache[{dev, w->data}];
    if (!slot) slot = std::move(fresh);  // else another thread prepared it meanwhile
    return *slot;
}

// The f16 rows' offset after dst (16-byte aligned) and their row length (32-aligned, for mul_mm's loads).
size_t scratch_offset(const ggml_tensor * dst) { return (ggml_nbytes(dst) + 63) & ~(size_t) 63; }
uint32_t f16_row(int64_t K) { return (uint32_t) ((K + 31) & ~31); }

// A coded weight with its f16 rows in the scratch: the tensor ggml's mul_mm is asked about.
ggml_tensor f16_rows(const ggml_tensor * op) {
    const int64_t K = op->src[0]->ne[0], N = op->src[0]->ne[1], ld = f16_row(K);
    ggml_tensor t = {};
    t.type = GGML_TYPE_F16;
    t.ne[0] = K;
    t.ne[1] = N;
    t.ne[2] = t.ne[3] = 1;
    t.nb[0] = sizeof(ggml_fp16_t);
    t.nb[1] = ld * sizeof(ggml_fp16_t);
    t.nb[2] = t.nb[3] = (size_t) N * t.nb[1];
    t.data = (char *) op->data + scratch_offset(op);
    t.buffer = op->buffer;
    return t;
}

bool uses_mul_mm(const ggml_tensor * op, bool has_simdgroup_mm) {
    ggml_tensor w16 = f16_rows(op);
    ggml_tensor op16 = *op;
    op16.src[0] = &w16;
    return ggml_metal_op_mul_mat_use_mm(&op16, has_simdgroup_mm);
}

void set_table(ggml_metal_encoder_t enc, const entq_weight & w) {
    ggml_metal_encoder_set_threadgroup_memory_size(enc, entq_metal_table_bytes(w.head.prob_bits), 0);
}

}  // namespace

bool entq_ggml_metal_supports_op(ggml_metal_device_t dev, const ggml_tensor * op) {
    const ggml_tensor * w = op->src[0];
    const ggml_tensor * x = op->src[1];
    if (op->type == GGML_TYPE_ENTQ || op->op != GGML_OP_MUL_MAT) return false;
    if (!w || !x || w->type != GGML_TYPE_ENTQ || x->type != GGML_TYPE_F32 || op->type != GGML_TYPE_F32) return false;
    for (int i = 2; i < GGML_MAX_SRC; i++) {
        if (op->src[i]) return false;
    }
    // every shape the kernels index by: a malformed graph is refused, not run
    if (w->ne[2] != 1 || w->ne[3] != 1 || w->ne[0] > UINT32_MAX || w->ne[1] > UINT32_MAX || w->ne[0] < 1 || w->ne[1] < 1) return false;
    if (x->ne[0] != w->ne[0] || op->ne[0] != w->ne[1] || op->ne[1] != x->ne[1] || op->ne[2] != x->ne[2] || op->ne[3] != x->ne[3]) return false;
    if (!ggml_is_contiguous(x) || !ggml_is_contiguous(op)) return false;
    // 32-bit element indices in the kernels: a column's offset and the scale pass over N x columns
    if ((uint64_t) ggml_nelements(op) > UINT32_MAX || (uint64_t) x->ne[0] * ENTQ_METAL_GEMV_COLS > UINT32_MAX) return false;
    // simd_sum: Apple GPUs from the A13/M1 on
    return ggml_metal_device_get_props(dev)->has_simdgroup_reduction && kernels_for(dev) != nullptr;
}

size_t entq_ggml_metal_extra(const ggml_tensor * op) {
    // the buffer type does not know the device: reserved as if it had simdgroup matrices (all Apple GPUs since M1/A14)
    if (op->op != GGML_OP_MUL_MAT || !op->src[0] || op->src[0]->type != GGML_TYPE_ENTQ || !op->src[1] || !uses_mul_mm(op, true)) return 0;
    const size_t rows = (size_t) op->src[0]->ne[1] * f16_row(op->src[0]->ne[0]) * sizeof(ggml_fp16_t);
    return scratch_offset(op) - ggml_nbytes(op) + rows;
}

void entq_ggml_metal_mul_mat(ggml_metal_device_t dev, ggml_metal_library_t lib, ggml_metal_encoder_t enc, const ggml_tensor * op) {
    const ggml_tensor * src0 = op->src[0];
    const ggml_tensor * src1 = op->src[1];
    GGML_ASSERT(entq_ggml_metal_supports_op(dev, op) && src0->buffer);
    const entq_kernels & k = *kernels_for(dev);
    const entq_weight & w = weight_for(dev, src0);
    const uint32_t K = w.head.K, N = w.head.N, ncols = (uint32_t) (ggml_nelements(src1) / K);
    uint32_t nsg, n_tg;
    entq_metal_shape(w.head.n_tiles, &nsg, &n_tg);
    entq_metal_args a = entq_metal_args_for(&w.head);
    const ggml_metal_buffer_id x = buffer_id(src1), y = buffer_id(op);

    if (!uses_mul_mm(op, ggml_metal_device_get_props(dev)->has_simdgroup_mm)) {
        a.ldx = K;
        a.ldy = N;
        for (uint32_t c0 = 0; c0 < ncols; c0 += ENTQ_METAL_GEMV_COLS) {
            const uint32_t nc = ncols - c0 < ENTQ_METAL_GEMV_COLS ? ncols - c0 : ENTQ_METAL_GEMV_COLS;
            ggml_metal_buffer_id xc = x, yc = y;
            xc.offs += (size_t) c0 * K * sizeof(float);
            yc.offs += (size_t) c0 * N * sizeof(float);
            ggml_metal_encoder_set_pipeline(enc, k.gemv[nc - 1]);
            ggml_metal_encoder_set_bytes(enc, &a, sizeof(a), 0);
            ggml_metal_encoder_set_buffer(enc, w.id, 1);
            ggml_metal_encoder_set_buffer(enc, xc, 2);
            ggml_metal_encoder_set_buffer(enc, yc, 3);
            set_table(enc, w);
            ggml_metal_encoder_dispatch_threadgroups(enc, (int) n_tg, 1, 1, (int) nsg * 32, 1, 1);
        }
        return;
    }

    // f16 rows of the weight into the scratch after dst
    ggml_tensor w16 = f16_rows(op);
    ggml_tensor op16 = *op;
    op16.src[0] = &w16;
    a.ldy = f16_row(K);
    ggml_metal_encoder_set_pipeline(enc, k.f16);
    ggml_metal_encoder_set_bytes(enc, &a, sizeof(a), 0);
    ggml_metal_encoder_set_buffer(enc, w.id, 1);
    ggml_metal_encoder_set_buffer(enc, buffer_id(&w16), 2);
    set_table(enc, w);
    ggml_metal_encoder_dispatch_threadgroups(enc, (int) n_tg, 1, 1, (int) nsg * 32, 1, 1);
    ggml_metal_encoder_memory_barrier(enc);

    // ggml's own mul_mm on them (its mul_mat branch for an F16 weight)
    struct ggml_metal_pipeline_with_params mm = ggml_metal_library_get_pipeline_mul_mm(lib, &op16);
    ggml_metal_kargs_mul_mm args = {
        /*.ne00 =*/ (int32_t) K,
        /*.ne02 =*/ 1,
        /*.nb01 =*/ w16.nb[1],
        /*.nb02 =*/ w16.nb[2],
        /*.nb03 =*/ w16.nb[3],
        /*.ne12 =*/ (int32_t) src1->ne[2],
        /*.nb10 =*/ src1->nb[0],
        /*.nb11 =*/ src1->nb[1],
        /*.nb12 =*/ src1->nb[2],
        /*.nb13 =*/ src1->nb[3],
        /*.ne0  =*/ (int32_t) op->ne[0],
        /*.ne1  =*/ (int32_t) op->ne[1],
        /*.r2   =*/ (int16_t) src1->ne[2],
        /*.r3   =*/ (int16_t) src1->ne[3],
    };
    ggml_metal_encoder_set_pipeline(enc, mm);
    ggml_metal_encoder_set_bytes(enc, &args, sizeof(args), 0);
    ggml_metal_encoder_set_buffer(enc, buffer_id(&w16), 1);
    ggml_metal_encoder_set_buffer(enc, x, 2);
    ggml_metal_encoder_set_buffer(enc, y, 3);
    ggml_metal_encoder_set_threadgroup_memory_size(enc, mm.smem, 0);
    ggml_metal_encoder_dispatch_threadgroups(enc, (int) ((op->ne[1] + mm.nr1 - 1) / mm.nr1), (int) ((op->ne[0] + mm.nr0 - 1) / mm.nr0),
                                             (int) (src1->ne[2] * src1->ne[3]), 32, mm.nsg, 1);
    ggml_metal_encoder_memory_barrier(enc);

    // the row scales
    a.ldy = N;
    a.ncols = ncols;
    ggml_metal_encoder_set_pipeline(enc, k.scale_rows);
    ggml_metal_encoder_set_bytes(enc, &a, sizeof(a), 0);
    ggml_metal_encoder_set_buffer(enc, w.id, 1);
    ggml_metal_encoder_set_buffer(enc, y, 2);
    ggml_metal_encoder_dispatch_threadgroups(enc, (int) ((N * ncols + ENTQ_METAL_SCALE_THREADS - 1) / ENTQ_METAL_SCALE_THREADS), 1, 1,
                                             (int) ENTQ_METAL_SCALE_THREADS, 1, 1);
}

void entq_ggml_metal_forget(const void * base, size_t size) {
    std::lock_guard<std::mutex> lock(mutex);
    const uint8_t * lo = (const uint8_t *) base;
    for (auto it = cache.begin(); it != cache.end();) {
        const uint8_t * p = (const uint8_t *) it->first.data;
        it = p >= lo && p < lo + size ? cache.erase(it) : std::next(it);
    }
}
