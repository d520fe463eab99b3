// entq_cpu_buffer.cpp - the CPU_ENTQ extra buffer type of ggml-cpu (see
// entq_cpu_buffer.h): coded weights are repacked into the CPU layout as the
// loader sets their data, on all cores, checking the stream on the way (its
// checksum and every segment's end state), so a damaged file fails the load
// with the tensor's name instead of aborting during inference.
#include "cpu/entq_cpu_buffer.h"

#include "ggml-backend-impl.h"
#include "ggml-cpu.h"
#include "ggml-impl.h"
#include "traits.h"

#include "cpu/entq_cpu.h"
#include "cpu/entq_repack.h"
#include "ggml/entq_ggml.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t ALIGN = 64;

struct entq_buffer_ctx {
    uint8_t * base = nullptr;
    size_t size = 0;
    std::mutex mu;  // loaders may set tensors from several threads
    std::vector<std::unique_ptr<uint8_t[]>> blocks;
    // for the summary logged once every coded weight of the buffer is loaded
    uint32_t n_weights = 0, n_loaded = 0, n_layout = 0;
    uint64_t file_bytes = 0, mem_bytes = 0;
    double seconds = 0;
    std::string kept;  // the first few weights that stayed rANS streams, and why
    uint32_t n_kept_named = 0;
};

bool is_coded_blob(const ggml_tensor * t) { return t->type == GGML_TYPE_ENTQ && t->view_src == nullptr; }

void buffer_free(ggml_backend_buffer_t buffer) {
    auto * ctx = (entq_buffer_ctx *) buffer->context;
    ggml_aligned_free(ctx->base, ctx->size);
    delete ctx;
}

void * buffer_get_base(ggml_backend_buffer_t buffer) { return ((entq_buffer_ctx *) buffer->context)->base; }

ggml_status buffer_init_tensor(ggml_backend_buffer_t buffer, ggml_tensor * tensor) {
    if (is_coded_blob(tensor)) {
        auto * ctx = (entq_buffer_ctx *) buffer->context;
        std::lock_guard<std::mutex> lock(ctx->mu);
        ctx->n_weights++;
    }
    return GGML_STATUS_SUCCESS;
}

const char * repack_reason(int status) {
    switch (status) {
        case ENTQ_REPACK_LEVELS: return "values are not one int8 grid";
        case ENTQ_REPACK_LARGER: return "layout larger than the stream allows";
        case ENTQ_REPACK_TOO_LARGE: return "payload beyond 4 GB";
        default: return "?";
    }
}

// The loader hands over the whole stream (from the file mapping or a read buffer).
void buffer_set_tensor(ggml_backend_buffer_t buffer, ggml_tensor * tensor, const void * data, size_t offset, size_t size) {
    auto * ctx = (entq_buffer_ctx *) buffer->context;
    if (!is_coded_blob(tensor)) {  // only coded weights are placed here; anything else is stored as is
        memcpy((uint8_t *) tensor->data + offset, data, size);
        return;
    }
    if (offset != 0 || size != ggml_nbytes(tensor)) {
        throw std::runtime_error(std::string("tensor '") + tensor->name + "': a coded weight must be set whole (CPU_ENTQ buffer)");
    }
    const auto t0 = std::chrono::steady_clock::now();
    const uint8_t * stream = (const uint8_t *) data;
    char why[256];
    auto damaged = [&] { throw std::runtime_error(std::string("tensor '") + tensor->name + "': " + why + ": the model file is damaged"); };
    if (!entq_ggml_verify_stream(stream, size, why, sizeof(why))) damaged();
    entq_info in;
    entq_parse(stream, size, &in);  // sound, as just verified: fills `in`
    const int threads = (int) std::max(1u, std::thread::hardware_concurrency());
    entq_repack_result r = entq_repack(&in, stream, threads, ENTQ_CPU_MAX_GROWTH);
    if (r.status == ENTQ_REPACK_PAYLOAD) {  // the checksum matched a stream that does not decode: forged
        entq_ggml_segment_error(&in, r.seg, entq_status_str(ENTQ_ERR_PAYLOAD), why, sizeof(why));
        damaged();
    }

    entq_cpu_weight rec = {ENTQ_CPU_WEIGHT_MAGIC, r.status == ENTQ_REPACK_OK, nullptr, 0};
    std::unique_ptr<uint8_t[]> block;
    if (rec.is_layout) {
        block = std::move(r.data);
        rec.bytes = r.layout_bytes;
    } else {  // kept: the rANS path reads a copy of the stream
        block.reset(new uint8_t[size]);
        memcpy(block.get(), stream, size);
        rec.bytes = size;
    }
    rec.data = block.get();
    memcpy(tensor->data, &rec, sizeof(rec));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::lock_guard<std::mutex> lock(ctx->mu);
    ctx->blocks.push_back(std::move(block));
    ctx->n_loaded++;
    ctx->n_layout += rec.is_layout;
    ctx->file_bytes += size;
    ctx->mem_bytes += rec.bytes;
    ctx->seconds += secs;
    if (!rec.is_layout && ctx->n_kept_named++ < 3) {
        ctx->kept += std::string(ctx->kept.empty() ? "" : ", ") + tensor->name + " (" + repack_reason(r.status);
        if (r.status == ENTQ_REPACK_LARGER) ctx->kept += ", x" + std::to_string((double) r.layout_bytes / (double) size).substr(0, 5);
        ctx->kept += ")";
    }
    GGML_LOG_DEBUG("%s: %s: %s, %llu -> %llu bytes, %.1f ms\n", __func__, tensor->name,
                   rec.is_layout ? (r.pair_code ? "layout (pair code)" : "layout") : repack_reason(r.status), (unsigned long long) size,
                   (unsigned long long) rec.bytes, secs * 1e3);
    if (ctx->n_loaded == ctx->n_weights) {
        const uint32_t n_kept = ctx->n_weights - ctx->n_layout;
        const std::string more = n_kept > 3 ? " and " + std::to_string(n_kept - 3) + " more" : "";
        GGML_LOG_INFO("entq: CPU layout: %u of %u coded weights repacked; %.2f MiB in memory for %.2f MiB of streams in the file (x%.4f); "
                      "%.2f s on %d threads%s%s%s\n",
                      ctx->n_layout, ctx->n_weights, ctx->mem_bytes / 1048576.0, ctx->file_bytes / 1048576.0,
                      (double) ctx->mem_bytes / (double) ctx->file_bytes, ctx->seconds, threads, n_kept ? "; kept as rANS streams: " : "",
                      ctx->kept.c_str(), more.c_str());
    }
}

void buffer_clear(ggml_backend_buffer_t buffer, uint8_t value) {
    auto * ctx = (entq_buffer_ctx *) buffer->context;
    memset(ctx->base, value, ctx->size);
}

const ggml_backend_buffer_i buffer_iface = {
    /* .free_buffer   = */ buffer_free,
    /* .get_base      = */ buffer_get_base,
    /* .init_tensor   = */ buffer_init_tensor,
    /* .memset_tensor = */ nullptr,
    /* .set_tensor    = */ buffer_set_tensor,
    /* .get_tensor    = */ nullptr,  // the stream is not kept: nothing may read a coded weight back
    /* .set_tensor_2d = */ nullptr,
    /* .get_tensor_2d = */ nullptr,
    /* .cpy_tensor    = */ nullptr,
    /* .clear         = */ buffer_clear,
    /* .reset         = */ nullptr,
};

const char * buft_get_name(ggml_backend_buffer_type_t) { return "CPU_ENTQ"; }

ggml_backend_buffer_t buft_alloc_buffer(ggml_backend_buffer_type_t buft, size_t size) {
    auto * ctx = new entq_buffer_ctx;
    ctx->size = std::max<size_t>(size, ALIGN);
    ctx->base = (uint8_t *) ggml_aligned_malloc(ctx->size);
    if (!ctx->base) {
        delete ctx;
        return nullptr;
    }
    return ggml_backend_buffer_init(buft, buffer_iface, ctx, size);
}

size_t buft_get_alignment(ggml_backend_buffer_type_t) { return ALIGN; }

// a coded weight takes a record here; its layout lives apart (see the header)
size_t buft_get_alloc_size(ggml_backend_buffer_type_t, const ggml_tensor * tensor) {
    return is_coded_blob(tensor) ? GGML_PAD(sizeof(entq_cpu_weight), ALIGN) : ggml_nbytes(tensor);
}

// ggml-cpu asks extra buffer types about ops on tensors they hold: here, coded weights only
class entq_extra_buffer_type : public ggml::cpu::extra_buffer_type {
    bool supports_op(ggml_backend_dev_t, const ggml_tensor * op) override { return entq_cpu_supports_op(op); }
    ggml::cpu::tensor_traits * get_tensor_traits(const ggml_tensor *) override { return nullptr; }  // entq_cpu_mul_mat dispatches
};

bool layout_enabled() {
    const char * v = std::getenv("ENTGGUF_CPU_LAYOUT");
    return !(v && (!strcmp(v, "0") || !strcmp(v, "off") || !strcmp(v, "rans")));
}

}  // namespace

extern "C" ggml_backend_buffer_type_t entq_cpu_buffer_type(void) {
    static ggml_backend_buffer_type buft = {
        /* .iface = */ {
            /* .get_name       = */ buft_get_name,
            /* .alloc_buffer   = */ buft_alloc_buffer,
            /* .get_alignment  = */ buft_get_alignment,
            /* .get_max_size   = */ nullptr,
            /* .get_alloc_size = */ buft_get_alloc_size,
            /* .is_host        = */ nullptr,
        },
        /* .device  = */ ggml_backend_reg_dev_get(ggml_backend_cpu_reg(), 0),
        /* .context = */ new entq_extra_buffer_type(),
    };
    static const bool enabled = layout_enabled();
    return enabled ? &buft : nullptr;
}
