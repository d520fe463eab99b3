/* entq_ggml_metal.h - GGML_TYPE_ENTQ in the patched ggml-metal backend
 * (patches/0012): which ops run on our kernels, the scratch they need, the
 * multiply itself, and the cache of per-weight GPU layouts that must follow
 * the weights' buffers. Compiled into ggml-metal; the kernels are
 * entq_tile.metal's, built from source at first use into a library of their
 * own. C linkage: ggml-metal-device.m (Objective-C) asks supports_op. */
#pragma once

#include "ggml.h"
#include "ggml-metal-device.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MUL_MAT of a coded [K, N] weight view by contiguous f32 activations into
 * contiguous f32, when our kernels compiled on this device (the first call
 * builds them; a compile error is logged once and every coded op stays on the
 * CPU, the rest of Metal unaffected). Any other op touching a coded tensor:
 * false. */
bool entq_ggml_metal_supports_op(ggml_metal_device_t dev, const struct ggml_tensor * op);

/* Bytes of scratch a coded MUL_MAT needs after its destination (the f16 rows
 * of the weight, for batches that run through ggml's mul_mm); 0 for other ops. */
size_t entq_ggml_metal_extra(const struct ggml_tensor * op);

/* Encodes dst = src0 (coded) x src1: fused decode + GEMV for up to 8 columns
 * at a time, or decode to f16 rows + ggml's mul_mm (`lib`: ggml's own
 * library) + row scales for larger batches. The weight's first multiply
 * repacks its stream into the GPU layout (native/cuda/entq_tile.h) in a
 * shared buffer of its own, without waiting for the GPU; a corrupt stream aborts naming the tensor (files are
 * checksummed at load before they get here). */
void entq_ggml_metal_mul_mat(ggml_metal_device_t dev, ggml_metal_library_t lib, ggml_metal_encoder_t enc, const struct ggml_tensor * op);

/* Drops the layouts of weights in [base, base + size): called when a Metal
 * buffer is freed, before its addresses can be reused. */
void entq_ggml_metal_forget(const void * base, size_t size);

#ifdef __cplusplus
}
#endif
