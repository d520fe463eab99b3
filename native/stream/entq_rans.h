/* entq_rans.h - the rANS coder step, after Fabian Giesen's ryg_rans (word variant).
 *
 * State x is 32 bits and kept in [L, 2^32) with L = 2^16 between symbols;
 * renormalisation moves exactly one 16-bit word, so a symbol never needs
 * more than one word (that is why L = 2^16 with 16-bit words: the encoder's
 * interval for a symbol of frequency f, [f * 2^(16-b), f * 2^(32-b)), is
 * reached from [L, 2^32) by at most one shift of 16 bits, for b <= 16).
 *
 * Encoding (C(s, x) with frequency f, cumulative frequency c, M = 2^b):
 *     x' = floor(x / f) * M + (x mod f) + c
 * Decoding inverts it from the low b bits ("slot") of x':
 *     s = symbol whose [c, c + f) holds slot;  x = f * (x' >> b) + slot - c
 * rANS is LIFO: the encoder runs over the symbols in reverse so that the
 * decoder emits them forwards. The encoder starts every lane at x = L; a
 * decoder that consumed a segment correctly ends every lane at x = L again,
 * which is how corruption inside a payload is detected.
 */
#ifndef ENTQ_RANS_H
#define ENTQ_RANS_H

#include "entq_format.h"

#define ENTQ_RANS_L (1u << 16)

/* Encoder: renormalise (push at most one word), then code the symbol.
 * x >= f * 2^(32-b) is tested as (x >> (32-b)) >= f, exact and free of
 * 64-bit arithmetic even when f = 2^b (a single-symbol table). */
static inline uint32_t entq_rans_enc_put(uint32_t x, uint32_t freq, uint32_t cum, uint32_t prob_bits, uint16_t **words) {
    if ((x >> (32 - prob_bits)) >= freq) {
        *--(*words) = (uint16_t)x;
        x >>= 16;
    }
    uint32_t q = x / freq;
    return (q << prob_bits) + (x - q * freq) + cum;
}

/* Decoder table entry for one slot: the symbol and the pair (freq, slot - cum). */
typedef struct entq_dslot {
    uint16_t freq;
    uint16_t bias; /* slot - cum[sym], < freq */
} entq_dslot;

/* Decoder step without renormalisation: returns the new state. */
ENTQ_HD static inline uint32_t entq_rans_dec_advance(uint32_t x, entq_dslot d, uint32_t prob_bits) {
    return (uint32_t)d.freq * (x >> prob_bits) + d.bias;
}

#endif /* ENTQ_RANS_H */
