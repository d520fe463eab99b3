/* entq_fallback.h - the "super weight" rule: when a tensor falls back to absmax.
 *
 * EntQuant keeps layers holding super weights (single weights far larger
 * than everything else, which the model depends on) at plain 8-bit absmax.
 * Its objective is blind to them: one weight's error counts 1/(N K) of the
 * tensor's, so at a rate-saving scale INT8 clips it at 127 steps, and FP8
 * keeps it only to its 3-bit mantissa.
 *
 * Rule, from weight statistics alone: the tensor falls back when
 *
 *     gap = max|w| / (ENTQ_FALLBACK_RANK-th largest |w|)  >=  threshold
 *
 * (default ENTQ_FALLBACK_GAP = 8). A heavy tail is a continuum, so its
 * largest few magnitudes sit close together (a Pareto tail of index 3 gives
 * a median gap near 2 for rank 8; a Gaussian ~1.1); a super weight stands
 * alone far above the next ones. Ranking against the 8th magnitude rather
 * than the 2nd tolerates up to 7 such weights in one tensor. Tensors with
 * fewer than ENTQ_FALLBACK_RANK nonzero weights never fall back.
 */
#ifndef ENTQ_FALLBACK_H
#define ENTQ_FALLBACK_H

#include <stdint.h>

#define ENTQ_FALLBACK_RANK 8
#define ENTQ_FALLBACK_GAP 8.0

/* The ENTQ_FALLBACK_RANK largest magnitudes seen, descending. */
typedef struct entq_top {
    float v[ENTQ_FALLBACK_RANK];
    uint32_t n;
} entq_top;

static inline void entq_top_push(entq_top *t, float a) {
    if (!(a > 0.0f)) return;
    if (t->n == ENTQ_FALLBACK_RANK && a <= t->v[ENTQ_FALLBACK_RANK - 1]) return;
    uint32_t i = t->n < ENTQ_FALLBACK_RANK ? t->n++ : ENTQ_FALLBACK_RANK - 1;
    while (i > 0 && t->v[i - 1] < a) {
        t->v[i] = t->v[i - 1];
        i--;
    }
    t->v[i] = a;
}

static inline void entq_top_merge(entq_top *t, const entq_top *o) {
    for (uint32_t i = 0; i < o->n; i++) entq_top_push(t, o->v[i]);
}

/* max|w| over the ENTQ_FALLBACK_RANK-th largest |w|; 0 when undefined. */
static inline double entq_outlier_gap(const entq_top *t) {
    return t->n == ENTQ_FALLBACK_RANK ? (double)t->v[0] / (double)t->v[ENTQ_FALLBACK_RANK - 1] : 0.0;
}

/* 1 when the tensor should be quantised with absmax scales (threshold <= 0: never). */
static inline int entq_fallback_decide(const entq_top *t, double threshold) {
    return threshold > 0 && entq_outlier_gap(t) >= threshold;
}

#endif /* ENTQ_FALLBACK_H */
