/* entq_row_search.h - the scale of one row: argmin over stored scales of f(s).
 *
 * Candidates are exactly the scales a stream can hold, s = base * f16(h) for
 * f16 bit patterns h (1024 per octave in f16's normal range), between
 *   s_lo = amax / level_max / 8   (3 octaves of saturation: never optimal for
 *                                  lambda > 0, a margin for lambda = 0) and
 *   s_hi = amax / mid_0           (every weight rounds to 0; f is constant above),
 * for E4M3 about 21 octaves (the optimum lies 12-18.5 octaves above
 * amax/448 at the paper's lambdas, GUIDE 6), for INT8 about 11.
 *
 * f is piecewise linear between breakpoints with jumps where a code changes,
 * so a local method stalls; the search is coarse-to-fine instead:
 *  1. descend from s_hi in steps of 256 (a quarter of an f16 octave),
 *     keeping the ENTQ_SEARCH_KEEP best; evaluations at large s are cheap
 *     (few levels used). Levels only grow as s shrinks, so a monotone lower
 *     envelope of the rate at s bounds f at every smaller s: once it reaches
 *     the best f the descent stops.
 *  2. around each kept point, refine: 6 neighbours at step/4, move to the
 *     best, repeat down to step 1 (neighbouring f16 scales). Refinement
 *     evaluations stop early once they cannot beat their centre.
 * entq_row_search_exhaustive() evaluates every candidate: the reference the
 * tests and the benchmark measure the fast search against.
 */
#ifndef ENTQ_ROW_SEARCH_H
#define ENTQ_ROW_SEARCH_H

#include "entq_row_eval.h"
#include "entq_scale.h"

#define ENTQ_SEARCH_COARSE 256
#define ENTQ_SEARCH_SHRINK 4
#define ENTQ_SEARCH_KEEP 3

/* Search range [h_lo, h_hi] of a row with largest magnitude amax > 0. */
static inline void entq_row_scale_range(const entq_grid *g, float amax, float base, uint16_t *h_lo, uint16_t *h_hi) {
    float s_lo = amax / g->level[g->n_levels - 1] * 0.125f;
    float s_hi = amax / g->mid[0];
    uint16_t lo = entq_scale_f16_down(s_lo, base), min = entq_scale_f16_min(base);
    *h_lo = lo < min ? min : lo;
    *h_hi = entq_scale_f16_up(s_hi, base);
    if (*h_hi < *h_lo) *h_hi = *h_lo;
}

/* Largest scale a row of magnitude amax may be given: what entq_scale_base needs. */
static inline float entq_row_scale_max(const entq_grid *g, float amax) { return amax / g->mid[0]; }

typedef struct entq_scored {
    uint16_t h;
    double v;
} entq_scored;

static inline double entq_row_eval_h(const entq_row *r, const entq_cost *c, float base, uint16_t h, double bound, double *rate_lb) {
    return entq_row_eval(r, c, entq_scale_value(base, h), bound, rate_lb);
}

/* Best h in [h_lo, h_hi] for row r (r->n > 0); its value in *best. */
static inline uint16_t entq_row_search(const entq_row *r, const entq_cost *c, float base, uint16_t h_lo, uint16_t h_hi, double *best) {
    entq_scored keep[ENTQ_SEARCH_KEEP] = {{h_hi, INFINITY}};
    int n_keep = 0;
    for (int32_t h = h_hi; h >= (int32_t)h_lo; h -= ENTQ_SEARCH_COARSE) {
        double rate = 0;
        double v = entq_row_eval_h(r, c, base, (uint16_t)h, INFINITY, &rate);
        int i = n_keep < ENTQ_SEARCH_KEEP ? n_keep++ : ENTQ_SEARCH_KEEP;
        if (i == ENTQ_SEARCH_KEEP && v >= keep[ENTQ_SEARCH_KEEP - 1].v) i = -1;
        if (i >= 0) {
            if (i == ENTQ_SEARCH_KEEP) i = ENTQ_SEARCH_KEEP - 1;
            while (i > 0 && keep[i - 1].v > v) { keep[i] = keep[i - 1]; i--; }
            keep[i].h = (uint16_t)h;
            keep[i].v = v;
        }
        if (rate >= keep[0].v) break;
    }
    entq_scored win = keep[0];
    for (int k = 0; k < n_keep; k++) {
        entq_scored at = keep[k];
        for (int32_t step = ENTQ_SEARCH_COARSE / ENTQ_SEARCH_SHRINK; step >= 1; step /= ENTQ_SEARCH_SHRINK) {
            entq_scored next = at;
            for (int32_t d = -(ENTQ_SEARCH_SHRINK - 1); d < ENTQ_SEARCH_SHRINK; d++) {
                int32_t h = (int32_t)at.h + d * step;
                if (d == 0 || h < (int32_t)h_lo || h > (int32_t)h_hi) continue;
                double v = entq_row_eval_h(r, c, base, (uint16_t)h, next.v, NULL);
                if (v < next.v) { next.h = (uint16_t)h; next.v = v; }
            }
            at = next;
        }
        if (at.v < win.v) win = at;
    }
    *best = win.v;
    return win.h;
}

/* Every candidate in [h_lo, h_hi]: the exact optimum over stored scales. */
static inline uint16_t entq_row_search_exhaustive(const entq_row *r, const entq_cost *c, float base, uint16_t h_lo, uint16_t h_hi, double *best) {
    entq_scored win = {h_hi, INFINITY};
    for (uint32_t h = h_lo; h <= h_hi; h++) {
        double v = entq_row_eval_h(r, c, base, (uint16_t)h, win.v, NULL);
        if (v < win.v) { win.h = (uint16_t)h; win.v = v; }
    }
    *best = win.v;
    return win.h;
}

#endif /* ENTQ_ROW_SEARCH_H */
