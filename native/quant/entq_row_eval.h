/* entq_row_eval.h - one row's objective at a scale s, in far fewer than K steps.
 *
 * A row's term of a separable objective is
 *
 *   f(s) = err_w * sum_k D(|w_k| - s * level(|w_k| / s))  +  rate_w * sum_k rate[level(|w_k| / s)]
 *
 * with D = |.| (EntQuant, rate[j] = level value) or D = (.)^2 (entropy-
 * constrained, rate[j] = code length in bits). Both grids are symmetric, so
 * only magnitudes matter. Sorting the row's nonzero magnitudes a_0 <= .. <=
 * a_{n-1} once (and their prefix sums P1, P2) makes every level a contiguous
 * run [lo, hi) of a: the run's error is a closed form in P1/P2, so a whole
 * evaluation costs O(levels used * log K) instead of O(K). The runs' ends are
 * exact: the threshold between levels j and j+1 is the smallest f32 t with
 * level(fl32(t / s)) > j, found by stepping f32 neighbours of mid_j * s, so
 * the evaluator assigns every weight the very level entq_quantize_row gives
 * it (f32 division is correctly rounded, hence monotone). Levels holding few
 * weights (the tail) are cheaper weight by weight, which the loop switches to.
 *
 * Every term is >= 0, so an evaluation can stop as soon as its partial sum
 * reaches a bound the caller no longer cares about (returns >= bound then).
 */
#ifndef ENTQ_ROW_EVAL_H
#define ENTQ_ROW_EVAL_H

#include <math.h>

#include "entq_grid.h"

enum entq_distortion { ENTQ_DIST_ABS = 0, ENTQ_DIST_SQ = 1 };

/* What a row evaluation minimises (shared by every row of a tensor). */
typedef struct entq_cost {
    const entq_grid *g;
    uint32_t dist;                       /* enum entq_distortion */
    double err_w;                        /* weight of the summed distortion */
    double rate_w;                       /* weight of the summed rate */
    double rate[ENTQ_GRID_MAX_LEVELS];   /* rate of one weight at level j */
    double env[ENTQ_GRID_MAX_LEVELS];    /* min over i >= j of rate[i]: non-decreasing */
} entq_cost;

/* Fills env from rate. Levels only grow as s shrinks, so sum env[level] is
 * non-increasing in s: a lower bound of the rate term at every smaller s. */
static inline void entq_cost_finish(entq_cost *c) {
    double m = INFINITY;
    for (uint32_t j = c->g->n_levels; j-- > 0;) {
        if (c->rate[j] < m) m = c->rate[j];
        c->env[j] = m;
    }
}

/* One row, prepared: sorted nonzero magnitudes and their prefix sums. The
 * caller owns the arrays: a K entries, tmp 2 K, p1 and p2 K + 1. */
typedef struct entq_row {
    uint32_t K, n;          /* row length; nonzero weights */
    float amax;             /* largest magnitude (0 for an all-zero row) */
    float *a;
    uint32_t *tmp;
    double *p1, *p2;        /* p2 only filled when asked (squared distortion) */
} entq_row;

/* LSD radix sort of non-negative f32 bit patterns (ordered like the values),
 * 11/11/10 bits; a pass whose digit is the same for every key is skipped. */
static inline void entq_sort_mag(uint32_t *keys, uint32_t *tmp, uint32_t n) {
    uint32_t h[3][2048];
    memset(h, 0, sizeof(h));
    for (uint32_t i = 0; i < n; i++) {
        h[0][keys[i] & 2047]++;
        h[1][(keys[i] >> 11) & 2047]++;
        h[2][keys[i] >> 22]++;
    }
    uint32_t *src = keys, *dst = tmp;
    for (int p = 0; p < 3; p++) {
        uint32_t shift = 11u * (uint32_t)p, sum = 0, skip = 0;
        for (int b = 0; b < 2048; b++) {
            if (h[p][b] == n) skip = 1;
            uint32_t c = h[p][b];
            h[p][b] = sum;
            sum += c;
        }
        if (skip) continue;
        for (uint32_t i = 0; i < n; i++) dst[h[p][(src[i] >> shift) & 2047]++] = src[i];
        uint32_t *t = src; src = dst; dst = t;
    }
    if (src != keys) memcpy(keys, src, n * sizeof(uint32_t));
}

/* Loads row w (K weights, finite) into r; with_sq also fills p2. */
static inline void entq_row_load(entq_row *r, const float *w, uint32_t K, int with_sq) {
    uint32_t *keys = r->tmp, n = 0;
    for (uint32_t k = 0; k < K; k++) {
        uint32_t b = entq_f32_bits(w[k]) & 0x7fffffffu;
        if (b) keys[n++] = b;
    }
    entq_sort_mag(keys, r->tmp + K, n);
    memcpy(r->a, keys, (size_t)n * sizeof(float)); /* the bit patterns are the floats */
    r->K = K;
    r->n = n;
    r->amax = n ? r->a[n - 1] : 0.0f;
    double s1 = 0, s2 = 0;
    r->p1[0] = 0;
    if (with_sq) r->p2[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        double v = r->a[i];
        r->p1[i + 1] = s1 += v;
        if (with_sq) r->p2[i + 1] = s2 += v * v;
    }
}

/* First i in [from, n) with a[i] >= t (n if none): gallop, then bisect. */
static inline uint32_t entq_lower_bound_from(const float *a, uint32_t from, uint32_t n, float t) {
    if (from >= n || a[from] >= t) return from;
    uint32_t prev = from, step = 1;
    while (prev + step < n && a[prev + step] < t) {
        prev += step;
        step <<= 1;
    }
    uint32_t lo = prev + 1, hi = prev + step < n ? prev + step : n;
    while (lo < hi) {
        uint32_t m = lo + (hi - lo) / 2;
        if (a[m] < t) lo = m + 1;
        else hi = m;
    }
    return lo;
}

/* Smallest f32 t >= 0 with level(fl32(t / s)) > j: weights >= t get a level above j. */
static inline float entq_level_threshold(const entq_grid *g, uint32_t j, float s) {
    float t = g->mid[j] * s;
    if (!entq_isfinite(t)) return INFINITY;
    if (entq_grid_mag(g->code_kind, entq_f32_bits(t / s)) > j) {
        for (;;) {
            float p = nextafterf(t, 0.0f);
            if (p == t || entq_grid_mag(g->code_kind, entq_f32_bits(p / s)) <= j) return t;
            t = p;
        }
    }
    for (;;) {
        t = nextafterf(t, INFINITY);
        if (!entq_isfinite(t)) return INFINITY;
        if (entq_grid_mag(g->code_kind, entq_f32_bits(t / s)) > j) return t;
    }
}

/* Weights per remaining level below which the tail is evaluated weight by weight. */
#define ENTQ_EVAL_TAIL_PER_LEVEL 4

/* f(s) for row r at scale s > 0 (see the top of the file); stops early and
 * returns a value >= bound once the partial sum reaches bound. *rate_lb (if
 * not NULL) receives, for a completed evaluation, rate_w * sum env[level]:
 * no scale below s can give f below it. */
static inline double entq_row_eval(const entq_row *r, const entq_cost *c, float s, double bound, double *rate_lb) {
    const entq_grid *g = c->g;
    const uint32_t kind = g->code_kind, n = r->n, sq = c->dist == ENTQ_DIST_SQ;
    const float *a = r->a;
    const double *p1 = r->p1, *p2 = r->p2;
    double err = 0, rate = (double)(r->K - n) * c->rate[0]; /* exact zeros: level 0, no error */
    double lb = (double)(r->K - n) * c->env[0];
    uint32_t lo = 0, j = 0;
    const uint32_t jmax = n ? entq_grid_mag(kind, entq_f32_bits(r->amax / s)) : 0;
    while (lo < n) {
        const double v = (double)s * g->level[j];
        if (n - lo <= ENTQ_EVAL_TAIL_PER_LEVEL * (jmax - j)) {
            for (uint32_t i = lo; i < n; i++) {
                uint32_t l = entq_grid_mag(kind, entq_f32_bits(a[i] / s));
                double d = (double)a[i] - (double)s * g->level[l];
                err += sq ? d * d : fabs(d);
                rate += c->rate[l];
                lb += c->env[l];
            }
            break;
        }
        uint32_t hi = j == jmax ? n : entq_lower_bound_from(a, lo, n, entq_level_threshold(g, j, s));
        if (hi > lo) {
            const double cnt = (double)(hi - lo), sum = p1[hi] - p1[lo];
            if (sq) {
                err += (p2[hi] - p2[lo]) - 2.0 * v * sum + v * v * cnt;
            } else {
                /* |a - v| splits at a = v (v = s * level is exact in f32) */
                uint32_t m = v > 0 ? entq_lower_bound_from(a, lo, hi, (float)v) : lo;
                err += v * (double)(m - lo) - (p1[m] - p1[lo]) + (p1[hi] - p1[m]) - v * (double)(hi - m);
            }
            rate += c->rate[j] * cnt;
            lb += c->env[j] * cnt;
            if (c->err_w * err + c->rate_w * rate >= bound) return c->err_w * err + c->rate_w * rate;
        }
        lo = hi;
        j++;
    }
    if (rate_lb) *rate_lb = c->rate_w * lb;
    return c->err_w * err + c->rate_w * rate;
}

#endif /* ENTQ_ROW_EVAL_H */
