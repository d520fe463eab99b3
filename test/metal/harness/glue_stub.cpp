// The Metal C API (ggml-metal-device.h) as the ENTQ glue (native/metal/
// entq_ggml_metal.cpp) and ggml-metal-device.cpp's pipeline getters use it,
// on a machine without Metal. Libraries "compile" by checking that the
// embedded source holds every kernel the glue asks for; buffers are host
// memory; an encoder runs each dispatch at once on the CPU: our kernels
// through the MSL shim (native/metal/entq_metal_shim.h, the kernels' own
// source compiled as C++), ggml's mul_mm as a plain f32 product of what its
// arguments describe. It also checks what a real GPU would need: threadgroup
// memory large enough and within 32 KB, grids that cover the output, and a
// memory barrier between a dispatch and the next one that reads what it wrote.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ggml.h"
#include "ggml-metal-device.h"
#include "ggml-metal-impl.h"

#include "glue_stub.h"
#include "metal/entq_metal_dispatch.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wattributes"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "metal/entq_metal_shim.h"
#include "metal/entq_tile.metal"
#pragma GCC diagnostic pop
#undef kernel
#undef device
#undef constant
#undef threadgroup
#undef thread

namespace stub = entq_glue_stub;

stub::State & stub::state() {
    static State s;
    return s;
}

static void problem(const std::string & what) {
    stub::state().problems.push_back(what);
}

struct ggml_metal_library {
    ggml_metal_device_t dev;
    std::string source;
};
struct ggml_metal_pipeline {
    std::string name;
};
struct ggml_metal_cv {
    int n = 0;
};
struct ggml_metal_buffer {};

// ---- libraries and pipelines ----

ggml_metal_library_t ggml_metal_library_init_from_source(ggml_metal_device_t dev, const char * source, bool) {
    stub::state().library_builds++;
    if (dev == stub::state().failing_device) {
        return nullptr;
    }
    // the embedded source: the kernels with their argument struct pasted in, nothing left to include
    const std::string src = source;
    if (src.find("#include \"") != std::string::npos || src.find("typedef struct entq_metal_args") == std::string::npos ||
        src.find("kernel void kernel_entq_scale_rows(") == std::string::npos || src.find("ENTQ_MTL_GEMV_KERNEL(8)") == std::string::npos) {
        problem("the embedded Metal source is not entq_tile.metal with entq_metal_args.h pasted in");
    }
    return new ggml_metal_library{dev, src};
}

void ggml_metal_library_free(ggml_metal_library_t lib) { delete lib; }

ggml_metal_library_t entq_glue_stub::ggml_library(ggml_metal_device_t dev) { return new ggml_metal_library{dev, ""}; }

ggml_metal_device_t ggml_metal_library_get_device(ggml_metal_library_t lib) { return lib ? lib->dev : nullptr; }

static std::map<std::string, ggml_metal_pipeline *> & pipelines() {
    static std::map<std::string, ggml_metal_pipeline *> p;
    return p;
}

struct ggml_metal_pipeline_with_params ggml_metal_library_get_pipeline(ggml_metal_library_t, const char * name) {
    ggml_metal_pipeline_with_params r = {};
    auto it = pipelines().find(name);
    r.pipeline = it == pipelines().end() ? nullptr : it->second;
    return r;
}

struct ggml_metal_pipeline_with_params ggml_metal_library_compile_pipeline(ggml_metal_library_t lib, const char * base, const char * name,
                                                                          ggml_metal_cv_t) {
    ggml_metal_pipeline_with_params r = {};
    // ggml's own library (no source here) has every kernel; ours only those the encoder below can run
    static const std::set<std::string> ours = {"kernel_entq_tile_gemv_1", "kernel_entq_tile_gemv_2", "kernel_entq_tile_gemv_3",
                                               "kernel_entq_tile_gemv_4", "kernel_entq_tile_gemv_5", "kernel_entq_tile_gemv_6",
                                               "kernel_entq_tile_gemv_7", "kernel_entq_tile_gemv_8", "kernel_entq_tile_f16",
                                               "kernel_entq_scale_rows"};
    if (lib && !lib->source.empty() && !ours.count(base)) {
        return r;
    }
    auto & p = pipelines()[name];
    if (!p) p = new ggml_metal_pipeline{name};
    r.pipeline = p;
    return r;
}

ggml_metal_cv_t ggml_metal_cv_init(void) { return new ggml_metal_cv; }
void ggml_metal_cv_free(ggml_metal_cv_t cv) { delete cv; }
void ggml_metal_cv_set_int16(ggml_metal_cv_t cv, int16_t, int32_t) { cv->n++; }
void ggml_metal_cv_set_int32(ggml_metal_cv_t cv, int32_t, int32_t) { cv->n++; }
void ggml_metal_cv_set_bool(ggml_metal_cv_t cv, bool, int32_t) { cv->n++; }
void ggml_metal_pipeline_free(ggml_metal_pipeline_t) {}

// ---- devices ----

const struct ggml_metal_device_props * ggml_metal_device_get_props(ggml_metal_device_t) {
    static ggml_metal_device_props props;
    props = {};
    props.has_simdgroup_mm = stub::state().has_simdgroup_mm;
    props.has_simdgroup_reduction = true;
    props.max_theadgroup_memory_size = 32768;
    props.use_shared_buffers = true;
    props.has_unified_memory = true;
    return &props;
}
ggml_metal_device_t ggml_metal_device_init(int, int) { return nullptr; }
void ggml_metal_device_free(ggml_metal_device_t) {}

// ---- buffers: host memory, shared; an id is the address itself ----

ggml_metal_buffer_t ggml_metal_buffer_map(ggml_metal_device_t, void * ptr, size_t, size_t) {
    if ((uintptr_t) ptr % 4096) problem("buffer_map: memory not page-aligned");
    stub::state().live_buffers++;
    return new ggml_metal_buffer;
}
void ggml_metal_buffer_free(ggml_metal_buffer_t buf) {
    stub::state().live_buffers--;
    delete buf;
}
bool ggml_metal_buffer_is_shared(ggml_metal_buffer_t) { return true; }
struct ggml_metal_buffer_id ggml_metal_buffer_get_id(ggml_metal_buffer_t, const struct ggml_tensor * t) { return {t->data, 0}; }

// ---- the encoder: each dispatch runs at once ----

struct ggml_metal_encoder {
    ggml_metal_pipeline_with_params pipeline = {};
    std::map<int, std::vector<uint8_t>> bytes;
    std::map<int, char *> buffers;
    size_t smem = 0;
    std::set<const char *> written;  // since the last barrier
};

ggml_metal_encoder_t entq_glue_stub::new_encoder() { return new ggml_metal_encoder; }
void entq_glue_stub::free_encoder(ggml_metal_encoder_t e) { delete e; }

void ggml_metal_encoder_set_pipeline(ggml_metal_encoder_t e, struct ggml_metal_pipeline_with_params p) {
    if (!p.pipeline) problem("set_pipeline: a pipeline that did not build");
    e->pipeline = p;
}
void ggml_metal_encoder_set_bytes(ggml_metal_encoder_t e, void * data, size_t size, int idx) {
    e->bytes[idx].assign((uint8_t *) data, (uint8_t *) data + size);
}
void ggml_metal_encoder_set_buffer(ggml_metal_encoder_t e, struct ggml_metal_buffer_id b, int idx) {
    if (!b.metal) problem("set_buffer: a nil buffer at index " + std::to_string(idx));
    e->buffers[idx] = (char *) b.metal + b.offs;
}
void ggml_metal_encoder_set_threadgroup_memory_size(ggml_metal_encoder_t e, size_t size, int) {
    if (size % 16) problem("threadgroup memory not a multiple of 16: " + std::to_string(size));
    if (size > 32768) problem("threadgroup memory over 32 KB: " + std::to_string(size));
    e->smem = size;
}
void ggml_metal_encoder_memory_barrier(ggml_metal_encoder_t e) { e->written.clear(); }

template <class T> static T arg(ggml_metal_encoder_t e) {
    T t;
    if (e->bytes[0].size() != sizeof(T)) problem("set_bytes: " + std::to_string(e->bytes[0].size()) + " bytes for a " + std::to_string(sizeof(T)) + "-byte struct");
    std::memcpy(&t, e->bytes[0].data(), sizeof(T));
    return t;
}

// A dispatch reading or writing what an earlier one wrote since the last barrier races on a GPU.
static void hazard(ggml_metal_encoder_t e, std::initializer_list<int> reads, int writes) {
    for (int i : reads)
        if (e->written.count(e->buffers[i])) problem(e->pipeline.pipeline->name + ": reads buffer " + std::to_string(i) + " written by an earlier dispatch with no barrier between");
    e->written.insert(e->buffers[writes]);
}

void ggml_metal_encoder_dispatch_threadgroups(ggml_metal_encoder_t e, int tg0, int tg1, int tg2, int tptg0, int tptg1, int tptg2) {
    const std::string name = e->pipeline.pipeline ? e->pipeline.pipeline->name : "";
    stub::state().dispatches.push_back(name);
    if (name.rfind("kernel_mul_mm_f16_f32", 0) == 0) {
        // ggml's kernel: dst[i1][i0] = sum_k src0 row i0 (f16, nb01 apart) . src1 column i1, per batch of src1
        const auto a = arg<ggml_metal_kargs_mul_mm>(e);
        const int64_t nb = (int64_t) a.ne12 * a.r3;
        if ((int64_t) tg0 * e->pipeline.nr1 < a.ne1 || (int64_t) tg1 * e->pipeline.nr0 < a.ne0 || tg2 != nb) problem("mul_mm: the grid does not cover dst");
        if (e->smem != e->pipeline.smem || tptg0 != 32 || tptg1 != e->pipeline.nsg) problem("mul_mm: not launched as ggml launches it");
        hazard(e, {1, 2}, 3);
        for (int64_t b = 0; b < nb; b++)
            for (int i1 = 0; i1 < a.ne1; i1++)
                for (int i0 = 0; i0 < a.ne0; i0++) {
                    const char * col = e->buffers[2] + (b % a.ne12) * a.nb12 + (b / a.ne12) * a.nb13 + i1 * a.nb11;
                    const ggml_fp16_t * row = (const ggml_fp16_t *) (e->buffers[1] + i0 * a.nb01);
                    float s = 0;
                    for (int k = 0; k < a.ne00; k++) s += ggml_fp16_to_fp32(row[k]) * *(const float *) (col + k * a.nb10);
                    ((float *) e->buffers[3])[(b * a.ne1 + i1) * a.ne0 + i0] = s;
                }
        return;
    }
    if (tg1 != 1 || tg2 != 1 || tptg1 != 1 || tptg2 != 1 || tptg0 % 32) problem(name + ": not a 1-D grid of whole simdgroups");
    const auto a = arg<entq_metal_args>(e);
    const uchar * blob = (const uchar *) e->buffers[1];
    std::string err;
    if (name == "kernel_entq_scale_rows") {
        hazard(e, {2}, 2);
        if ((uint64_t) tg0 * tptg0 < (uint64_t) a.N * a.ncols) problem("scale_rows: the grid does not cover y");
        err = metal::shim::dispatch((uint) tg0, (uint) tptg0 / 32, 0, [&](const metal::shim::Thread & t) { kernel_entq_scale_rows(a, blob, (float *) e->buffers[2], t.gid); });
    } else {
        if (e->smem < entq_metal_table_bytes(a.prob_bits)) problem(name + ": threadgroup memory smaller than the table");
        const size_t smem = e->smem;
        e->smem = 0;
        if (name == "kernel_entq_tile_f16") {
            hazard(e, {1}, 2);
            err = metal::shim::dispatch((uint) tg0, (uint) tptg0 / 32, smem, [&](const metal::shim::Thread & t) {
                kernel_entq_tile_f16(a, blob, (half *) e->buffers[2], (entq_mtl_tslot *) t.smem, t.tgpig, t.ntg, t.tpitg, t.ntptg, t.tiisg, t.sgitg, t.nsg);
            });
        } else {
            hazard(e, {1, 2}, 3);
            const int B = name.rfind("kernel_entq_tile_gemv_", 0) == 0 ? std::atoi(name.c_str() + 22) : 0;
            const float * x = (const float *) e->buffers[2];
            float * y = (float *) e->buffers[3];
            err = metal::shim::dispatch((uint) tg0, (uint) tptg0 / 32, smem, [&](const metal::shim::Thread & t) {
                entq_mtl_tslot * tab = (entq_mtl_tslot *) t.smem;
                switch (B) {
#define ENTQ_CASE(b) \
    case b: kernel_entq_tile_gemv_##b(a, blob, x, y, tab, t.tgpig, t.ntg, t.tpitg, t.ntptg, t.tiisg, t.sgitg, t.nsg); break;
                    ENTQ_CASE(1) ENTQ_CASE(2) ENTQ_CASE(3) ENTQ_CASE(4) ENTQ_CASE(5) ENTQ_CASE(6) ENTQ_CASE(7) ENTQ_CASE(8)
#undef ENTQ_CASE
                    default: break;
                }
            });
            if (B < 1 || B > 8) problem("unknown pipeline " + name);
        }
    }
    if (!err.empty()) problem(name + ": " + err);
}

// For the supports_op harness (main.c, plain C): a device whose library will not build.
extern "C" void entq_glue_stub_fail_builds(ggml_metal_device_t dev) { stub::state().failing_device = dev; }
