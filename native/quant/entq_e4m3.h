/* entq_e4m3.h - f32 -> FP8 E4M3 code (OCP E4M3, decoded by entq_e4m3_to_f32).
 *
 * Round to nearest, ties to even (the even code, i.e. even mantissa), with
 * saturation: every |x| >= 448 (inf included) becomes +-448, never the NaN
 * pattern S.1111.111. A result of magnitude 0 is always +0 (0x00): -0 would
 * be a second symbol for the same value and cost entropy. NaN maps to 0x7f
 * (weights are checked finite before quantising, so it never reaches a stream).
 *
 * Positive codes 0x00..0x7e are ordered like their values, so the code of a
 * non-negative value is also its index on the non-negative grid ("level").
 */
#ifndef ENTQ_E4M3_H
#define ENTQ_E4M3_H

#include "../stream/entq_format.h"

#define ENTQ_E4M3_MAX 448.0f
#define ENTQ_E4M3_MAX_CODE 0x7e   /* 448 */
#define ENTQ_E4M3_LEVELS 127      /* non-negative values 0 .. 448 */

/* Magnitude code (0..0x7e) of |x| given its f32 bits without the sign.
 * Branch-free (both paths computed, one selected): in the bulk of a row the
 * values straddle the subnormal/normal boundary, where a branch mispredicts.
 *  - normal E4M3 (>= 2^-6): rebias the exponent 127 -> 7 and round the
 *    23-bit mantissa to 3 bits, ties to even; a carry moves into the
 *    exponent by itself.
 *  - subnormal E4M3: m * 2^-9 with m = RNE(|x| * 2^9) in 0..8 (m = 8 is code
 *    0x08 = 2^-6), rounded by adding 2^23 in f32 (default rounding mode:
 *    round to nearest even; the sum's low mantissa bits are m). */
static inline uint32_t entq_e4m3_mag(uint32_t a) {
    uint32_t t = a - (120u << 23);
    uint32_t rn = (t + 0x7ffffu + ((t >> 20) & 1)) >> 20;
    float xs = entq_bits_f32(a < (121u << 23) ? a : 0) * 512.0f;
    uint32_t rs = entq_f32_bits(xs + 8388608.0f) - 0x4b000000u;
    uint32_t r = a >= (121u << 23) ? rn : rs;
    return a >= 0x43e00000u ? ENTQ_E4M3_MAX_CODE : r; /* >= 448, inf: saturate */
}

static inline uint8_t entq_f32_to_e4m3(float x) {
    uint32_t u = entq_f32_bits(x), a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0x7f; /* NaN */
    uint32_t m = entq_e4m3_mag(a);
    return (uint8_t)(m ? m | ((u >> 24) & 0x80) : 0);
}

#endif /* ENTQ_E4M3_H */
