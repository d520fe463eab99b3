/* entq_freq.h - the frequency model: symbol counts -> normalised frequencies.
 *
 * Kept apart from the coder. Given counts c_s and a total M = 2^b, choose
 * integers f_s >= 1 for every present symbol with sum f_s = M minimising the
 * coded length  sum_s c_s * -log2(f_s / M).  The cost is separable and convex
 * in each f_s, so moving single units greedily to the best marginal gain
 * until no move helps reaches the optimum.
 */
#ifndef ENTQ_FREQ_H
#define ENTQ_FREQ_H

#include <math.h>

#include "entq_format.h"

/* Coded length in bits of the counts under frequencies freq (sum 2^prob_bits). */
static inline double entq_coded_bits(const uint64_t *counts, const uint32_t *freq, uint32_t prob_bits) {
    double bits = 0;
    for (int s = 0; s < 256; s++)
        if (counts[s]) bits += (double)counts[s] * ((double)prob_bits - log2((double)freq[s]));
    return bits;
}

/* Shannon entropy of the counts, in bits per symbol. */
static inline double entq_entropy_bits(const uint64_t *counts) {
    double n = 0, h = 0;
    for (int s = 0; s < 256; s++) n += (double)counts[s];
    if (n == 0) return 0;
    for (int s = 0; s < 256; s++)
        if (counts[s]) h -= (double)counts[s] * log2((double)counts[s] / n);
    return h / n;
}

/* Gain in bits from f -> f+1, and loss from f -> f-1, for a symbol seen c times. */
static inline double entq_freq_gain(uint64_t c, uint32_t f) { return (double)c * log2((double)(f + 1) / f); }
static inline double entq_freq_loss(uint64_t c, uint32_t f) { return f > 1 ? (double)c * log2((double)f / (f - 1)) : INFINITY; }

/* Normalises counts to frequencies summing to 2^prob_bits; absent symbols get
 * 0, present ones >= 1. Returns the number of present symbols (0 if none). */
static inline uint32_t entq_normalize_freqs(const uint64_t *counts, uint32_t prob_bits, uint32_t *freq) {
    const uint32_t M = 1u << prob_bits;
    uint64_t total = 0;
    uint32_t n_sym = 0, sum = 0;
    for (int s = 0; s < 256; s++) {
        total += counts[s];
        n_sym += counts[s] != 0;
    }
    if (n_sym == 0 || n_sym > M) return 0;
    for (int s = 0; s < 256; s++) {
        freq[s] = 0;
        if (!counts[s]) continue;
        double want = (double)counts[s] * M / (double)total;
        uint32_t f = (uint32_t)(want + 0.5);
        freq[s] = f < 1 ? 1 : f > M ? M : f;
        sum += freq[s];
    }
    /* fix the sum, one unit at a time, where it costs least */
    while (sum != M) {
        int best = -1;
        double best_v = 0;
        for (int s = 0; s < 256; s++) {
            if (!counts[s]) continue;
            double v = sum < M ? entq_freq_gain(counts[s], freq[s]) : -entq_freq_loss(counts[s], freq[s]);
            if (best < 0 || v > best_v) { best = s; best_v = v; }
        }
        if (sum < M) { freq[best]++; sum++; }
        else { freq[best]--; sum--; }
    }
    /* move units while a move lowers the cost; each move lowers it strictly,
     * so this ends; the bound only guards against float ties */
    for (uint32_t iter = 0; iter < 4 * M; iter++) {
        int up = -1, down = -1;
        double g = 0, l = INFINITY;
        for (int s = 0; s < 256; s++) {
            if (!counts[s]) continue;
            double gs = entq_freq_gain(counts[s], freq[s]), ls = entq_freq_loss(counts[s], freq[s]);
            if (up < 0 || gs > g) { up = s; g = gs; }
            if (ls < l) { down = s; l = ls; }
        }
        if (down < 0 || up == down || !(g > l * (1 + 1e-12))) break;
        freq[up]++;
        freq[down]--;
    }
    return n_sym;
}

#endif /* ENTQ_FREQ_H */
