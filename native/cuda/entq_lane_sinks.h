/* entq_lane_sinks.h - what the lane walk (entq_lane.h) does with each decoded
 * symbol: the GEMV's multiply-accumulate, codes, or codebook values for a
 * matrix product. Shared by the CUDA kernels and the CPU twin (same W
 * policies), so the twin reproduces the kernels' arithmetic bit for bit:
 * explicit FMAs on the fast path, unfused products at row boundaries, the
 * warp's butterfly reduction, then the row scale. */
#ifndef ENTQ_LANE_SINKS_H
#define ENTQ_LANE_SINKS_H

#include "entq_lane.h"

#if defined(__CUDACC__)
#include <cuda_fp16.h>
#endif

/* f16 bits of a codebook value (always exact: E4M3, INT8 and stored f16 codebooks). */
ENTQ_HD static inline uint16_t entq_value_f16(float v) {
#if defined(__CUDA_ARCH__)
    return __half_as_ushort(__float2half_rn(v));
#else
    return entq_f32_to_f16(v);
#endif
}

/* y[c * ldy + row] = scale(row) * sum_k value[row][k] * x[c * ldx + k], for
 * B columns, each decoded weight used by every column while in a register. */
template <class W, int B> struct entq_sink_gemv {
    const float *x;
    uint32_t ldx;
    float *y;               /* the segment's first row */
    uint32_t ldy;
    const uint16_t *scales; /* the segment's row scales, f16 */
    float scale_base;
    uint32_t row;
    float acc[B][W::N], held[B][W::N];
    float xr[ENTQ_LANE_UNROLL][B][W::N]; /* prefetched activations of a fast group */

    ENTQ_HD entq_sink_gemv(const float *x_, uint32_t ldx_, float *y_, uint32_t ldy_, const uint16_t *scales_,
                           float scale_base_)
        : x(x_), ldx(ldx_), y(y_), ldy(ldy_), scales(scales_), scale_base(scale_base_), row(0) {
        for (int c = 0; c < B; c++)
            for (int j = 0; j < W::N; j++) acc[c][j] = 0.0f;
    }

    /* column k0 + 32 u: one address per column, the steps as immediate offsets */
    ENTQ_HD void prefetch(uint32_t u, int j, uint32_t k0) {
        for (int c = 0; c < B; c++) xr[u][c][j] = entq_ldg(x + (c * ldx + k0) + 32 * u);
    }

    ENTQ_HD void fast(uint32_t u, int j, uint32_t, uint32_t, uint32_t value) {
        const float v = entq_bits_f32(value);
        for (int c = 0; c < B; c++) acc[c][j] = entq_fma(v, xr[u][c][j], acc[c][j]);
    }

    ENTQ_HD void take(int j, uint32_t k, uint32_t, uint32_t value, bool active) {
        const float v = entq_bits_f32(value);
        for (int c = 0; c < B; c++) {
            float p = entq_mul_rn(v, entq_ldg(x + c * ldx + k)); /* k is 0 for idle lanes: in bounds */
            held[c][j] = active ? p : 0.0f;
        }
    }

    ENTQ_HD void keep(int j, bool cond) {
        for (int c = 0; c < B; c++) acc[c][j] += cond ? held[c][j] : 0.0f;
    }

    ENTQ_HD void end_row() {
        const float scale = entq_mul_rn(scale_base, entq_f16_to_f32(entq_ldg(scales + row)));
        for (int c = 0; c < B; c++) {
            const float s = entq_mul_rn(W::sum(acc[c]), scale);
            for (int j = 0; j < W::N; j++) {
                if (W::lane(j) == (uint32_t)(c & 31)) y[(uint64_t)c * ldy + row] = s;
                acc[c][j] = 0.0f;
            }
        }
        row++;
    }
};

/* Rows of codes: out[row * K + k] = symbol (the decode check's sink). */
template <class W> struct entq_sink_codes {
    const uint8_t *sym; /* slot -> symbol */
    uint8_t *out;       /* the segment's first row */
    uint32_t K, row;
    uint32_t hk[W::N], hs[W::N];

    ENTQ_HD entq_sink_codes(const uint8_t *sym_, uint8_t *out_, uint32_t K_) : sym(sym_), out(out_), K(K_), row(0) {}
    ENTQ_HD void prefetch(uint32_t, int, uint32_t) {}
    ENTQ_HD void fast(uint32_t, int, uint32_t k, uint32_t slot, uint32_t) { out[(uint64_t)row * K + k] = sym[slot]; }
    ENTQ_HD void take(int j, uint32_t k, uint32_t slot, uint32_t, bool) {
        hk[j] = k;
        hs[j] = slot;
    }
    ENTQ_HD void keep(int j, bool cond) {
        if (cond) out[(uint64_t)row * K + hk[j]] = sym[hs[j]];
    }
    ENTQ_HD void end_row() { row++; }
};

/* Rows of unscaled codebook values as f16, row stride ld: the A operand of a
 * matrix product whose output rows are scaled afterwards (the values are
 * exact in f16, the row scale is applied in f32 to the product). */
template <class W> struct entq_sink_values {
    uint16_t *out; /* the segment's first row */
    uint32_t ld, row;
    uint32_t hk[W::N], hv[W::N];

    ENTQ_HD entq_sink_values(uint16_t *out_, uint32_t ld_) : out(out_), ld(ld_), row(0) {}
    ENTQ_HD void prefetch(uint32_t, int, uint32_t) {}
    ENTQ_HD void fast(uint32_t, int, uint32_t k, uint32_t, uint32_t value) {
        out[(uint64_t)row * ld + k] = entq_value_f16(entq_bits_f32(value));
    }
    ENTQ_HD void take(int j, uint32_t k, uint32_t, uint32_t value, bool) {
        hk[j] = k;
        hv[j] = value;
    }
    ENTQ_HD void keep(int j, bool cond) {
        if (cond) out[(uint64_t)row * ld + hk[j]] = entq_value_f16(entq_bits_f32(hv[j]));
    }
    ENTQ_HD void end_row() { row++; }
};

#endif /* ENTQ_LANE_SINKS_H */
