/* entq_source_weights.h - a source tensor's stored elements as f32: what the
 * converter reads (GGUF F32, F16, BF16, Q8_0). In C because the converter
 * reads every weight of a model once or twice: the JS loop it replaces ran at
 * ~60 M weights/s. */
#ifndef ENTQ_SOURCE_WEIGHTS_H
#define ENTQ_SOURCE_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "stream/entq_format.h"

/* ggml's type numbers of the readable types */
enum entq_source_type { ENTQ_SRC_F32 = 0, ENTQ_SRC_F16 = 1, ENTQ_SRC_Q8_0 = 8, ENTQ_SRC_BF16 = 30 };

#define ENTQ_Q8_0_BLOCK 32
#define ENTQ_Q8_0_BYTES 34 /* f16 scale + 32 int8 */

/* Bytes of one unit (an element, or a Q8_0 block) and the elements it holds; 0 for other types. */
static inline size_t entq_source_unit_bytes(uint32_t type) {
    return type == ENTQ_SRC_F32 ? 4 : type == ENTQ_SRC_F16 || type == ENTQ_SRC_BF16 ? 2 : type == ENTQ_SRC_Q8_0 ? ENTQ_Q8_0_BYTES : 0;
}
static inline size_t entq_source_unit_elements(uint32_t type) { return type == ENTQ_SRC_Q8_0 ? ENTQ_Q8_0_BLOCK : 1; }

/* f16 -> f32 without branches (vectorises): the magnitude's bits shifted into
 * f32 position are the value times 2^-112, subnormals included (exact);
 * exponent 31 (inf, NaN) is restored. Little-endian hosts, as ggml. */
static inline float entq_f16_to_f32_fast(uint16_t h) {
    const float f = entq_bits_f32((uint32_t)(h & 0x7fff) << 13) * 0x1p112f;
    const uint32_t special = (h & 0x7c00) == 0x7c00 ? 0x7f800000u : 0u;
    return entq_bits_f32(entq_f32_bits(f) | special | (uint32_t)(h & 0x8000) << 16);
}

/* Stored bytes of n elements of type (n a multiple of 32 for Q8_0); 0 for other types. */
static inline size_t entq_source_bytes(uint32_t type, size_t n) {
    return entq_source_unit_bytes(type) * (n / entq_source_unit_elements(type));
}

/* Converts a tensor in place: out has room for n f32, and its last
 * entq_source_bytes(type, n) bytes hold the stored tensor (read there
 * straight from the file, so no second buffer is touched: fresh memory is
 * what a conversion pays most for on VMs that fault every new page). The
 * pass runs forward: element i's f32 ends at byte 4i+3, before the stored
 * bytes of any later element (they start at 4n - stored + 2(i+1) for 2-byte
 * types, 4n - 34(blocks - b) for Q8_0 blocks); a Q8_0 block is copied out
 * before its values are written (the last one overlaps them). Returns 0 for
 * an unknown type or an n Q8_0 cannot hold, else n. */
static inline size_t entq_source_to_f32_in_place(uint32_t type, float *out, size_t n) {
    const size_t stored = entq_source_bytes(type, n);
    if (!stored || n % entq_source_unit_elements(type)) return 0;
    const uint8_t *src = (const uint8_t *)out + 4 * n - stored;
    switch (type) {
    case ENTQ_SRC_F32: break;
    case ENTQ_SRC_F16:
    case ENTQ_SRC_BF16:
        /* blocks of 64 through a local copy, so the loop vectorises: block i's f32 end at byte
         * 4i + 256, before the next block's stored bytes (2n + 2i + 128 for i + 64 <= n) */
        for (size_t i = 0; i < n; i += 64) {
            uint16_t h[64];
            const size_t m = n - i < 64 ? n - i : 64;
            memcpy(h, src + 2 * i, 2 * m);
            if (type == ENTQ_SRC_F16)
                for (size_t j = 0; j < m; j++) out[i + j] = entq_f16_to_f32_fast(h[j]);
            else
                for (size_t j = 0; j < m; j++) out[i + j] = entq_bits_f32((uint32_t)h[j] << 16);
        }
        break;
    default: /* Q8_0: value = f16 d * int8 q */
        for (size_t b = 0; b < n / ENTQ_Q8_0_BLOCK; b++) {
            uint8_t blk[ENTQ_Q8_0_BYTES];
            memcpy(blk, src + b * ENTQ_Q8_0_BYTES, ENTQ_Q8_0_BYTES);
            const float d = entq_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8));
            for (int j = 0; j < ENTQ_Q8_0_BLOCK; j++) out[b * ENTQ_Q8_0_BLOCK + j] = d * (float)(int8_t)blk[2 + j];
        }
    }
    return n;
}

#endif /* ENTQ_SOURCE_WEIGHTS_H */
