// Asks the Metal backend's supports_op (compiled from the patched source,
// appended above this file) about a matrix multiply and a row lookup, first
// with F16 weights, then with the same weights typed ENTQ, on a device where
// our kernels build and on one where they do not (glue_stub.cpp).
#include <stdio.h>

void entq_glue_stub_fail_builds(ggml_metal_device_t dev);

int main(void) {
    struct ggml_init_params p = {16 * 1024 * 1024, NULL, true};
    struct ggml_context *ctx = ggml_init(p);
    struct ggml_tensor *w = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, 256, 64);
    struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 256, 4);
    struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
    struct ggml_tensor *e = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, 256, 64);
    struct ggml_tensor *idx = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, 4);
    struct ggml_tensor *g = ggml_get_rows(ctx, e, idx);
    struct ggml_metal_device dev = {{true, true, true}}, broken = {{true, true, true}};
    entq_glue_stub_fail_builds(&broken);
    const int f16_mul = ggml_metal_device_supports_op(&dev, y), f16_rows = ggml_metal_device_supports_op(&dev, g);
    w->type = GGML_TYPE_ENTQ; /* supports_op reads types and shapes only */
    e->type = GGML_TYPE_ENTQ;
    const int entq_mul = ggml_metal_device_supports_op(&dev, y), entq_rows = ggml_metal_device_supports_op(&dev, g);
    const int broken_entq = ggml_metal_device_supports_op(&broken, y);
    w->type = GGML_TYPE_F16;
    const int broken_f16 = ggml_metal_device_supports_op(&broken, y);
    printf("f16 mul_mat %d get_rows %d; entq mul_mat %d get_rows %d; kernels not built: entq mul_mat %d, f16 mul_mat %d\n", f16_mul, f16_rows,
           entq_mul, entq_rows, broken_entq, broken_f16);
    ggml_free(ctx);
    return 0;
}
