/* entq_scale.h - row scales as the stream stores them.
 *
 * The stream keeps one f32 scale_base and per row an f16, and the decoder
 * multiplies codebook[code] * scale_base * f16(row_scale). The quantisers
 * therefore only ever use scales of that exact form, s = base * f16(h):
 * they search over f16 bit patterns h (positive f16 values are ordered like
 * their bits), so what they optimise is what the decoder reconstructs.
 *
 * scale_base is a power of two, so base * f16(h) is exact in f32, and is the
 * smallest one with max_scale / base <= 2^15: the largest scale a tensor may
 * need stays below the f16 maximum (65504) and the rest keeps as many f16
 * normal octaves (2^-14 .. 2^15) as possible.
 */
#ifndef ENTQ_SCALE_H
#define ENTQ_SCALE_H

#include <math.h>

#include "../stream/entq_format.h"

#define ENTQ_F16_MAX_FINITE 0x7bffu

/* Power of two base for row scales up to max_scale (> 0, finite); 1 otherwise. */
static inline float entq_scale_base(float max_scale) {
    if (!(max_scale > 0.0f) || !entq_isfinite(max_scale)) return 1.0f;
    int e;
    float m = frexpf(max_scale, &e);  /* max_scale = m * 2^e, m in [0.5, 1) */
    if (m == 0.5f) e--;               /* a power of two: max_scale = 2^e exactly */
    float base = ldexpf(1.0f, e - 15);
    if (base == 0.0f) base = ldexpf(1.0f, -149); /* smallest f32: ratios stay finite */
    return base;
}

static inline float entq_scale_value(float base, uint16_t h) { return base * entq_f16_to_f32(h); }

/* Smallest f16 h with base * f16(h) >= s, clamped to the largest h whose
 * scale is finite in f32: with s within an f16 step of FLT_MAX the next h up
 * is base * f16(h) = 2^128, an infinite scale that decodes to NaN (found by
 * native/fuzz/fuzz_quantize.cpp). */
static inline uint16_t entq_scale_f16_up(float s, float base) {
    uint16_t h = entq_f32_to_f16(s / base);
    if (h > ENTQ_F16_MAX_FINITE) h = ENTQ_F16_MAX_FINITE;
    while (h > 0 && entq_scale_value(base, (uint16_t)(h - 1)) >= s) h--;
    while (h < ENTQ_F16_MAX_FINITE && entq_scale_value(base, h) < s) h++;
    while (h > 0 && !entq_isfinite(entq_scale_value(base, h))) h--;
    return h;
}

/* Smallest f16 h whose scale base * f16(h) is not 0 in f32: with a tiny
 * base (a tensor of subnormal weights) f16(1) = 2^-24 underflows, and a row
 * given scale 0 divides 0 by 0 into the NaN code (found by
 * native/fuzz/fuzz_quantize.cpp). */
static inline uint16_t entq_scale_f16_min(float base) { return entq_scale_f16_up(entq_bits_f32(1u), base); }

/* Largest f16 h with base * f16(h) <= s (0 if none). */
static inline uint16_t entq_scale_f16_down(float s, float base) {
    uint16_t h = entq_scale_f16_up(s, base);
    while (h > 0 && entq_scale_value(base, h) > s) h--;
    return h;
}

#endif /* ENTQ_SCALE_H */
