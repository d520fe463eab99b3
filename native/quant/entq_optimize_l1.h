/* entq_optimize_l1.h - EntQuant's objective as a per-row cost.
 *
 *   L(s) = sum|W - Wh| / sum|W| + lambda * c * mean|q|     (entq_objective.h)
 *
 * is a sum over rows of  err_w * sum_k |w_k - s q_k| + rate_w * sum_k |q_k|
 * with err_w = 1 / sum|W| (the whole tensor's) and rate_w = lambda * c / (N K),
 * so the tensor's optimum is N independent one-dimensional problems, each
 * solved by entq_row_search over the scales the stream can store. The paper's
 * reference minimises L with L-BFGS on log2 s from absmax; this finds a point
 * at least as low (the exhaustive search over every stored scale is the
 * reference in the tests) in ~100 cheap evaluations per row.
 */
#ifndef ENTQ_OPTIMIZE_L1_H
#define ENTQ_OPTIMIZE_L1_H

#include "entq_objective.h"
#include "entq_row_search.h"

/* The cost of EntQuant's objective for a tensor of N x K weights with sum|W| = abs_w. */
static inline void entq_cost_l1(entq_cost *c, const entq_grid *g, double abs_w, uint32_t N, uint32_t K, double lambda) {
    memset(c, 0, sizeof(*c));
    c->g = g;
    c->dist = ENTQ_DIST_ABS;
    c->err_w = abs_w > 0 ? 1.0 / abs_w : 0.0;
    c->rate_w = lambda * entq_rate_coef(g->code_kind) / ((double)N * K);
    for (uint32_t j = 0; j < g->n_levels; j++) c->rate[j] = g->level[j];
    entq_cost_finish(c);
}

/* The optimal stored scale (f16 bits) of a loaded row with nonzero weights. */
static inline uint16_t entq_optimize_row(const entq_row *r, const entq_cost *c, float base, int exhaustive, double *value) {
    uint16_t lo, hi;
    entq_row_scale_range(c->g, r->amax, base, &lo, &hi);
    return exhaustive ? entq_row_search_exhaustive(r, c, base, lo, hi, value) : entq_row_search(r, c, base, lo, hi, value);
}

#endif /* ENTQ_OPTIMIZE_L1_H */
