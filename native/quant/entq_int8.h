/* entq_int8.h - f32 -> INT8 code (two's complement, decoded by entq_int8_to_f32).
 *
 * Round to nearest, ties to even (as IEEE rint and torch.round do, and like
 * the E4M3 rounding, so both kinds share one tie rule), then clamp to
 * [-127, 127]: -128 is never produced, which keeps the grid symmetric. NaN
 * maps to 0 (weights are checked finite before quantising).
 */
#ifndef ENTQ_INT8_H
#define ENTQ_INT8_H

#include "../stream/entq_format.h"

#define ENTQ_INT8_MAX 127
#define ENTQ_INT8_LEVELS 128 /* non-negative values 0 .. 127 */

/* Magnitude (0..127) of |x| given its f32 bits without the sign: RNE by
 * adding 2^23 in f32 (default rounding mode), which leaves the integer in
 * the low mantissa bits; branch-free like entq_e4m3_mag. */
static inline uint32_t entq_int8_mag(uint32_t a) {
    float x = entq_bits_f32(a < 0x42fe0000u ? a : 0);
    uint32_t r = entq_f32_bits(x + 8388608.0f) - 0x4b000000u;
    return a >= 0x42fe0000u ? ENTQ_INT8_MAX : r; /* >= 127, inf: saturate */
}

static inline uint8_t entq_f32_to_int8(float x) {
    uint32_t u = entq_f32_bits(x), a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return 0; /* NaN */
    uint32_t m = entq_int8_mag(a);
    return (uint8_t)((u >> 31) ? (uint8_t)(0u - m) : m);
}

#endif /* ENTQ_INT8_H */
