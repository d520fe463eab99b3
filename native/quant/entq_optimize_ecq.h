/* entq_optimize_ecq.h - entropy-constrained quantisation (ECQ) as a per-row cost.
 *
 * Instead of EntQuant's proxy (L1 error + mean|q|), each row's scale minimises
 *
 *   sum (W - Wh)^2 / sum W^2  +  lambda * (code length of the row's codes) / (N K)
 *
 * where the code length of a weight at level j is -log2 p_j under the
 * tensor's actual code distribution: what the rANS coder will spend on it.
 * The distribution depends on all rows' scales, so the optimiser iterates:
 * estimate p from the current codes, re-solve every row, repeat (each step
 * is a descent on the Lagrangian for a fixed table). The table is made
 * symmetric (both signs of a level share p_j / 2), so rows still reduce to
 * magnitudes, and smoothed (+1/2 per symbol) so a level not seen yet keeps
 * a finite cost. lambda here trades relative MSE against bits per weight.
 */
#ifndef ENTQ_OPTIMIZE_ECQ_H
#define ENTQ_OPTIMIZE_ECQ_H

#include "entq_row_search.h"

/* The ECQ cost for a tensor of N x K weights with sum W^2 = sq_w, given code
 * counts (256, indexed by code byte) of the current solution. */
static inline void entq_cost_ecq(entq_cost *c, const entq_grid *g, double sq_w, uint32_t N, uint32_t K, double lambda,
                                 const double *counts) {
    memset(c, 0, sizeof(*c));
    c->g = g;
    c->dist = ENTQ_DIST_SQ;
    c->err_w = sq_w > 0 ? 1.0 / sq_w : 0.0;
    c->rate_w = lambda / ((double)N * K);
    double total = 0;
    for (int s = 0; s < 256; s++) total += counts[s];
    const double denom = total + 0.5 * (2.0 * g->n_levels - 1);
    for (uint32_t j = 0; j < g->n_levels; j++) {
        double per_sign = j == 0 ? counts[0]
                                 : 0.5 * (counts[entq_grid_code(g->code_kind, j, 0)] + counts[entq_grid_code(g->code_kind, j, 1)]);
        c->rate[j] = -log2((per_sign + 0.5) / denom);
    }
    entq_cost_finish(c);
}

#endif /* ENTQ_OPTIMIZE_ECQ_H */
