/* entq_objective.h - EntQuant's objective and the error measures, evaluated
 * plainly from the weights, the codes and the stored scales.
 *
 * For a tensor W (N rows x K) with codes q and row scales s_r (Wh = s_r q):
 *
 *   L = sum|W - Wh| / sum|W|  +  lambda * c * mean(|q|)
 *
 * where |q| is the magnitude of the code's value (E4M3: the FP8 number,
 * 0 .. 448; INT8: the integer, 0 .. 127) and c = 4 for E4M3, 1/128 for INT8.
 * L is a sum of per-row terms; the optimisers minimise each row's term with
 * the same arithmetic (entq_row_eval.h). This file is the reference they and
 * the TypeScript tests are checked against.
 */
#ifndef ENTQ_OBJECTIVE_H
#define ENTQ_OBJECTIVE_H

#include <math.h>

#include "entq_grid.h"

/* Sums over a set of rows; add the sums of disjoint row sets to combine. */
typedef struct entq_error_sums {
    double abs_w, abs_err;  /* sum|W|, sum|W - Wh| */
    double sq_w, sq_err;    /* sum W^2, sum (W - Wh)^2 */
    double abs_q;           /* sum |q| (code values) */
    uint64_t n;             /* elements */
} entq_error_sums;

/* c in the rate term: lambda * c * mean|q|. */
static inline double entq_rate_coef(uint32_t kind) { return kind == ENTQ_CODES_E4M3 ? 4.0 : 1.0 / 128.0; }

static inline void entq_error_sums_add(entq_error_sums *acc, const entq_error_sums *b) {
    acc->abs_w += b->abs_w;
    acc->abs_err += b->abs_err;
    acc->sq_w += b->sq_w;
    acc->sq_err += b->sq_err;
    acc->abs_q += b->abs_q;
    acc->n += b->n;
}

/* Accumulates rows [r0, r1) of W (row-major, K per row) against their codes
 * and stored scales (value = codebook[code] * base * f16(row_scales[r])).
 * The products are exact in double (8 + 11 significant bits times 24). */
static inline void entq_error_rows(uint32_t kind, const float *W, uint32_t K, uint32_t r0, uint32_t r1, const uint8_t *codes,
                                   float base, const uint16_t *row_scales, entq_error_sums *acc) {
    float val[256];
    entq_grid_values(kind, val);
    for (uint32_t r = r0; r < r1; r++) {
        const double s = (double)entq_scale_value(base, row_scales[r]);
        const float *w = W + (uint64_t)r * K;
        const uint8_t *q = codes + (uint64_t)r * K;
        /* local sums: through acc every step would be a store */
        double abs_w = 0, sq_w = 0, abs_err = 0, sq_err = 0, abs_q = 0;
        for (uint32_t k = 0; k < K; k++) {
            double v = val[q[k]];
            double d = (double)w[k] - s * v;
            abs_w += fabs((double)w[k]);
            sq_w += (double)w[k] * w[k];
            abs_err += fabs(d);
            sq_err += d * d;
            abs_q += fabs(v);
        }
        acc->abs_w += abs_w;
        acc->sq_w += sq_w;
        acc->abs_err += abs_err;
        acc->sq_err += sq_err;
        acc->abs_q += abs_q;
        acc->n += K;
    }
}

/* L from the sums (0 when W is all zero: nothing to lose, nothing coded). */
static inline double entq_objective_value(uint32_t kind, double lambda, const entq_error_sums *e) {
    double rel = e->abs_w > 0 ? e->abs_err / e->abs_w : 0.0;
    return rel + lambda * entq_rate_coef(kind) * (e->n ? e->abs_q / (double)e->n : 0.0);
}

static inline double entq_rel_l1(const entq_error_sums *e) { return e->abs_w > 0 ? e->abs_err / e->abs_w : 0.0; }
static inline double entq_rel_l2(const entq_error_sums *e) { return e->sq_w > 0 ? sqrt(e->sq_err / e->sq_w) : 0.0; }

#endif /* ENTQ_OBJECTIVE_H */
