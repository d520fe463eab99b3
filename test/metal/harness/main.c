// Asks the Metal backend's supports_op (compiled from the patched source,
// appended above this file) about a matrix multiply and a row lookup, first
// with F16 weights, then with the same weights typed ENTQ.
#include <stdio.h>

int main(void) {
    struct ggml_init_params p = {16 * 1024 * 1024, NULL, true};
    struct ggml_context *ctx = ggml_init(p);
    struct ggml_tensor *w = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, 256, 64);
    struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, 256, 4);
    struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
    struct ggml_tensor *e = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, 256, 64);
    struct ggml_tensor *idx = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, 4);
    struct ggml_tensor *g = ggml_get_rows(ctx, e, idx);
    struct ggml_metal_device dev = {{true, true, true}};
    const int f16_mul = ggml_metal_device_supports_op(&dev, y), f16_rows = ggml_metal_device_supports_op(&dev, g);
    w->type = GGML_TYPE_ENTQ; /* supports_op reads types and shapes only */
    e->type = GGML_TYPE_ENTQ;
    printf("f16 mul_mat %d get_rows %d; entq mul_mat %d get_rows %d\n", f16_mul, f16_rows, ggml_metal_device_supports_op(&dev, y),
           ggml_metal_device_supports_op(&dev, g));
    ggml_free(ctx);
    return 0;
}
