/* entq_metal_args.h - what the host hands the Metal kernels (entq_tile.metal)
 * with set_bytes: one struct, read by the C++ glue (entq_ggml_metal.cpp), by
 * the MSL compiler (the build pastes this file into the kernels' source, as
 * ggml does with ggml-metal-impl.h) and by the shim test. Fixed-width types
 * only, largest first, so both sides lay it out alike. */
#ifndef ENTQ_METAL_ARGS_H
#define ENTQ_METAL_ARGS_H

/* A tile layout (native/cuda/entq_tile.h) in one buffer: its sections' byte
 * offsets from the buffer's start and the head's fields, plus the operands'
 * leading dimensions in elements. */
typedef struct entq_metal_args {
    uint64_t table_off, scales_off, lanes_off, words_off;
    uint32_t K, N, rows_per_tile, n_tiles, prob_bits;
    float scale_base;
    uint32_t ldx;   /* gemv: floats between columns of x */
    uint32_t ldy;   /* gemv and scale_rows: floats between columns of y; f16: halves between rows of out */
    uint32_t ncols; /* scale_rows: columns of y */
    uint32_t pad;
} entq_metal_args;

#endif /* ENTQ_METAL_ARGS_H */
