/* entq_metal_dispatch.h - host side of the Metal kernels (entq_tile.metal):
 * their arguments from a tile layout's head and the launch shape, shared by
 * the ggml-metal glue (entq_ggml_metal.cpp) and the shim test, so the tests
 * run the kernels exactly as the backend dispatches them. */
#ifndef ENTQ_METAL_DISPATCH_H
#define ENTQ_METAL_DISPATCH_H

#include <stdint.h>
#include <string.h>

#include "../cuda/entq_tile.h"
#include "entq_metal_args.h"

/* Threadgroup memory of a kernel that holds the table: 8-byte slots
 * (entq_tile.metal's entq_mtl_tslot), a multiple of 16 bytes as Metal asks;
 * 16 KB at ENTQ_TILE_MAX_PROB_BITS, half of Apple GPUs' 32 KB. */
static inline size_t entq_metal_table_bytes(uint32_t prob_bits) {
    const size_t b = (size_t)8u << prob_bits;
    return b < 16 ? 16 : b;
}

/* The arguments of every kernel on one layout. */
static inline entq_metal_args entq_metal_args_for(const entq_tile_head *h) {
    entq_metal_args a;
    memset(&a, 0, sizeof a);
    a.table_off = h->table_off;
    a.scales_off = h->scales_off;
    a.lanes_off = h->lanes_off;
    a.words_off = h->words_off;
    a.K = h->K;
    a.N = h->N;
    a.rows_per_tile = h->rows_per_tile;
    a.n_tiles = h->n_tiles;
    a.prob_bits = h->prob_bits;
    a.scale_base = entq_bits_f32(h->scale_base_bits);
    return a;
}

/* Simdgroups per threadgroup and threadgroups: 4 simdgroups share a table copy
 * (fewer when the weight has fewer tiles), one tile per simdgroup. */
static inline void entq_metal_shape(uint32_t n_tiles, uint32_t *nsg, uint32_t *n_tg) {
    *nsg = n_tiles < 4 ? (n_tiles ? n_tiles : 1) : 4;
    *n_tg = (n_tiles + *nsg - 1) / *nsg;
    if (*n_tg == 0) *n_tg = 1;
}

/* Threads per threadgroup of kernel_entq_scale_rows. */
#define ENTQ_METAL_SCALE_THREADS 256u

#endif /* ENTQ_METAL_DISPATCH_H */
