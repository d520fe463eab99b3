// entq_tile.metal - the Metal kernels on the GPU layout of a coded weight
// ("tiles of lane streams", native/cuda/entq_tile.h: the same bytes the CUDA
// backend runs, made on the host by entq_tile_repack.h).
//
// One simdgroup (32 threads, as a CUDA warp) walks one tile at a time: lane l
// decodes the symbols (r, k) with k = l (mod 32) of each of the tile's rows
// from its own rANS state and its own run of u16 words; nothing is shared
// between lanes while decoding. At the end of a row the lanes' partial dot
// products meet in one simd_sum per activation column.
//
// The table: the layout's 16-byte slots are read once per threadgroup and kept
// in threadgroup memory as 8-byte slots {freq | bias << 12 | sym << 23, value}
// (freq <= 2^11 in 12 bits, bias < 2^11 in 11, the code in 8), so the table
// of 2^11 slots takes 16 KB of Metal's 32 KB: two threadgroups fit where one
// would with the CUDA entry.
//
// Built twice: by the Metal compiler from source at the first coded multiply
// (entq_ggml_metal.cpp; the build pastes entq_metal_args.h in place of its
// #include), and as C++ through native/metal/entq_metal_shim.h, whose
// simdgroups run their 32 threads in lock step, for the tests here.
#if defined(__METAL_VERSION__)
#include <metal_stdlib>
using namespace metal;
#endif

#include "entq_metal_args.h"

// [[threadgroup(0)]]: spelled through a macro, as the shim's empty `threadgroup` would break it
#ifndef ENTQ_MTL_TG0
#define ENTQ_MTL_TG0 [[threadgroup(0)]]
#endif

#define ENTQ_MTL_RANS_L 65536u // L = 2^16, the coder's lower bound (entq_rans.h)
#define ENTQ_MTL_UNROLL 8u     // ENTQ_TILE_UNROLL: steps per bulk iteration, no column test
#define ENTQ_MTL_FREQ_MASK 0xFFFu
#define ENTQ_MTL_BIAS_MASK 0x7FFu

// the layout's table entry (entq_tile_slot) and lane record (entq_tile_lane)
struct entq_mtl_slot {
    uint freq;
    uint bias;
    uint value;    // f32 bits of codebook[sym]
    uint sym_half; // sym | f16(codebook[sym]) << 16
};
struct entq_mtl_lane {
    uint state;
    uint start;
};

// the threadgroup's copy of a slot
struct entq_mtl_tslot {
    uint fbs;
    float value;
};

// Every thread of the threadgroup copies part of the table, then all wait for it.
static inline void entq_mtl_load_table(constant entq_metal_args &a, device const uchar *blob, threadgroup entq_mtl_tslot *tab,
                                       uint tpitg, uint ntptg) {
    device const entq_mtl_slot *src = (device const entq_mtl_slot *)(blob + a.table_off);
    const uint nslots = 1u << a.prob_bits;
    for (uint i = tpitg; i < nslots; i += ntptg) {
        // field by field: MSL copies whole structs across address spaces, the clang syntax check does not
        tab[i].fbs = src[i].freq | src[i].bias << 12 | (src[i].sym_half & 0xFFu) << 23;
        tab[i].value = as_type<float>(src[i].value);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
}

// One lane's decoder: 32-bit state x, its next word w loaded one refill ahead.
struct entq_mtl_dec {
    uint x;
    uint w;
    uint p;
    device const ushort *run;
};

// One symbol (entq_tile_dec::step): the refill is predicated, lanes refill at different steps.
static inline entq_mtl_tslot entq_mtl_step(thread entq_mtl_dec &d, threadgroup const entq_mtl_tslot *tab, uint b, uint mask) {
    entq_mtl_tslot e;
    e.fbs = tab[d.x & mask].fbs;
    e.value = tab[d.x & mask].value;
    const uint y = (e.fbs & ENTQ_MTL_FREQ_MASK) * (d.x >> b) + ((e.fbs >> 12) & ENTQ_MTL_BIAS_MASK);
    if (y < ENTQ_MTL_RANS_L) {
        d.x = y * 65536u + d.w;
        d.p += 1u;
        d.w = d.run[d.p];
    } else {
        d.x = y;
    }
    return e;
}

// The walk over one tile's rows (entq_tile_walk), the symbols handed to a sink:
//   sink.symbol(k, e)       this lane decoded column k of the current row
//   sink.end_row(r, lane)   row r is complete (all 32 lanes call it together)
// Returns whether this lane's state ended back at L (the encoder's start).
template <typename Sink>
static inline bool entq_mtl_walk(constant entq_metal_args &a, device const uchar *blob, threadgroup const entq_mtl_tslot *tab, uint tile,
                                 ushort lane, thread Sink &sink) {
    device const entq_mtl_lane *ln = (device const entq_mtl_lane *)(blob + a.lanes_off) + (ulong)tile * 32u + lane;
    entq_mtl_dec d;
    d.x = ln->state;
    d.run = (device const ushort *)(blob + a.words_off) + ln->start;
    d.p = 0;
    d.w = d.run[0];
    const uint b = a.prob_bits, mask = (1u << b) - 1u, K = a.K;
    const uint r0 = tile * a.rows_per_tile, rows = min(a.N - r0, a.rows_per_tile);
    const uint bulk = K - K % (32u * ENTQ_MTL_UNROLL);
    for (uint r = r0; r < r0 + rows; r++) {
        for (uint kb = 0; kb < bulk; kb += 32u * ENTQ_MTL_UNROLL) {
            for (uint u = 0; u < ENTQ_MTL_UNROLL; u++) {
                sink.symbol(kb + lane + 32u * u, entq_mtl_step(d, tab, b, mask));
            }
        }
        for (uint kb = bulk; kb < K; kb += 32u) {
            const uint k = kb + lane;
            if (k < K) {
                sink.symbol(k, entq_mtl_step(d, tab, b, mask));
            }
        }
        sink.end_row(r, lane);
    }
    return d.x == ENTQ_MTL_RANS_L;
}

// ---- sinks ----

// y[c ldy + r] = scale_base scale[r] sum_k value[r][k] x[c ldx + k], c < B: per lane an FMA
// chain over its columns, then one simd_sum per column (entq_tile_sink_gemv).
template <int B> struct entq_mtl_sink_gemv {
    device const float *x;
    device float *y;
    device const half *scales;
    uint ldx;
    uint ldy;
    float scale_base;
    float acc[B];

    // 32-bit indices: the glue takes at most 8 columns of K < 2^29 at a time, and dst holds fewer than 2^32
    // elements (entq_ggml_metal_supports_op)
    void symbol(uint k, entq_mtl_tslot e) {
        for (uint c = 0; c < B; c++) {
            acc[c] = fma(e.value, x[c * ldx + k], acc[c]);
        }
    }
    void end_row(uint r, ushort lane) {
        const float s = scale_base * float(scales[r]);
        for (uint c = 0; c < B; c++) {
            const float total = simd_sum(acc[c]);
            if (lane == 0) {
                y[c * ldy + r] = total * s;
            }
            acc[c] = 0.0f;
        }
    }
};

// out[r ld + k] = f16(codebook value), unscaled: the row scales follow the product (entq_tile_sink_f16).
struct entq_mtl_sink_f16 {
    device half *out;
    uint ld;
    uint row;
    void symbol(uint k, entq_mtl_tslot e) { out[(ulong)row * ld + k] = half(e.value); }
    void end_row(uint, ushort) { row++; }
};

// ---- kernels: a threadgroup of nsg simdgroups shares one table; simdgroup s of threadgroup g
// walks tiles g nsg + s, then every (ntg nsg)th after it ----

#define ENTQ_MTL_THREAD_ARGS                                                                                                  \
    threadgroup entq_mtl_tslot *tab ENTQ_MTL_TG0, uint tgpig [[threadgroup_position_in_grid]],                            \
        uint ntg [[threadgroups_per_grid]], uint tpitg [[thread_index_in_threadgroup]],                                         \
        uint ntptg [[threads_per_threadgroup]], ushort tiisg [[thread_index_in_simdgroup]],                                     \
        ushort sgitg [[simdgroup_index_in_threadgroup]], ushort nsg [[simdgroups_per_threadgroup]]

template <int B>
static inline void entq_mtl_gemv(constant entq_metal_args &a, device const uchar *blob, device const float *x, device float *y,
                                 threadgroup entq_mtl_tslot *tab, uint tgpig, uint ntg, uint tpitg, uint ntptg, ushort tiisg,
                                 ushort sgitg, ushort nsg) {
    entq_mtl_load_table(a, blob, tab, tpitg, ntptg);
    for (uint tile = tgpig * nsg + sgitg; tile < a.n_tiles; tile += ntg * nsg) {
        entq_mtl_sink_gemv<B> sink;
        sink.x = x;
        sink.y = y;
        sink.scales = (device const half *)(blob + a.scales_off);
        sink.ldx = a.ldx;
        sink.ldy = a.ldy;
        sink.scale_base = a.scale_base;
        for (int c = 0; c < B; c++) {
            sink.acc[c] = 0.0f;
        }
        entq_mtl_walk(a, blob, tab, tile, tiisg, sink);
    }
}

// y = W x for B = 1..8 columns of x (ggml's mul_mv_ext covers 2..8 the same way)
#define ENTQ_MTL_GEMV_KERNEL(B)                                                                                               \
    kernel void kernel_entq_tile_gemv_##B(constant entq_metal_args &a [[buffer(0)]], device const uchar *blob [[buffer(1)]],    \
                                          device const float *x [[buffer(2)]], device float *y [[buffer(3)]],                 \
                                          ENTQ_MTL_THREAD_ARGS) {                                                               \
        entq_mtl_gemv<B>(a, blob, x, y, tab, tgpig, ntg, tpitg, ntptg, tiisg, sgitg, nsg);                                    \
    }

ENTQ_MTL_GEMV_KERNEL(1)
ENTQ_MTL_GEMV_KERNEL(2)
ENTQ_MTL_GEMV_KERNEL(3)
ENTQ_MTL_GEMV_KERNEL(4)
ENTQ_MTL_GEMV_KERNEL(5)
ENTQ_MTL_GEMV_KERNEL(6)
ENTQ_MTL_GEMV_KERNEL(7)
ENTQ_MTL_GEMV_KERNEL(8)

// The weight's codebook values as f16 rows of ldy halves, for ggml's own mul_mm on larger batches.
kernel void kernel_entq_tile_f16(constant entq_metal_args &a [[buffer(0)]], device const uchar *blob [[buffer(1)]],
                                 device half *out [[buffer(2)]], ENTQ_MTL_THREAD_ARGS) {
    entq_mtl_load_table(a, blob, tab, tpitg, ntptg);
    for (uint tile = tgpig * nsg + sgitg; tile < a.n_tiles; tile += ntg * nsg) {
        entq_mtl_sink_f16 sink;
        sink.out = out;
        sink.ld = a.ldy;
        sink.row = tile * a.rows_per_tile;
        entq_mtl_walk(a, blob, tab, tile, tiisg, sink);
    }
}

// y[c ldy + r] *= scale_base scale[r] for r < N, c < ncols: the row scales after mul_mm on f16 rows.
kernel void kernel_entq_scale_rows(constant entq_metal_args &a [[buffer(0)]], device const uchar *blob [[buffer(1)]],
                                   device float *y [[buffer(2)]], uint i [[thread_position_in_grid]]) {
    if (i >= a.N * a.ncols) {
        return;
    }
    const uint r = i % a.N, c = i / a.N;
    device const half *scales = (device const half *)(blob + a.scales_off);
    y[(ulong)c * a.ldy + r] *= a.scale_base * float(scales[r]);
}
