/* entq_grid.h - one view of the two code kinds for the quantisers.
 *
 * Both grids are symmetric, so the optimisers work on magnitudes: level j is
 * the j-th non-negative grid value (level 0 = 0). A weight w at row scale s
 * gets the code of fl32(w / s) (IEEE f32 division, then the kind's rounding):
 * this is the one definition of "the codes at scale s" that every part (the
 * optimisers' evaluator, the objective, the TypeScript tests) reproduces.
 *
 * Rounding is to nearest with ties to even, so the tie between levels j and
 * j + 1 goes up exactly when j is odd (level j has code j for both kinds).
 */
#ifndef ENTQ_GRID_H
#define ENTQ_GRID_H

#include "entq_e4m3.h"
#include "entq_int8.h"

#define ENTQ_GRID_MAX_LEVELS 128

typedef struct entq_grid {
    uint32_t code_kind;                   /* ENTQ_CODES_E4M3 or ENTQ_CODES_INT8 */
    uint32_t n_levels;                    /* 127 (E4M3) or 128 (INT8) */
    float level[ENTQ_GRID_MAX_LEVELS];    /* ascending magnitudes, level[0] = 0 */
    float mid[ENTQ_GRID_MAX_LEVELS];      /* (level[j] + level[j+1]) / 2, exact in f32; last unused */
} entq_grid;

static inline int entq_grid_kind_ok(uint32_t kind) { return kind == ENTQ_CODES_E4M3 || kind == ENTQ_CODES_INT8; }

static inline void entq_grid_init(entq_grid *g, uint32_t kind) {
    memset(g, 0, sizeof(*g));
    g->code_kind = kind;
    g->n_levels = kind == ENTQ_CODES_E4M3 ? ENTQ_E4M3_LEVELS : ENTQ_INT8_LEVELS;
    for (uint32_t j = 0; j < g->n_levels; j++)
        g->level[j] = kind == ENTQ_CODES_E4M3 ? entq_e4m3_to_f32((uint8_t)j) : (float)j;
    for (uint32_t j = 0; j + 1 < g->n_levels; j++) g->mid[j] = 0.5f * (g->level[j] + g->level[j + 1]);
}

/* Level of a non-negative f32 given by its bits. */
static inline uint32_t entq_grid_mag(uint32_t kind, uint32_t abs_bits) {
    return kind == ENTQ_CODES_E4M3 ? entq_e4m3_mag(abs_bits) : entq_int8_mag(abs_bits);
}

/* Code byte of level j with the given sign (nonzero = negative); level 0 is +0. */
static inline uint8_t entq_grid_code(uint32_t kind, uint32_t j, int negative) {
    if (!negative || j == 0) return (uint8_t)j;
    return kind == ENTQ_CODES_E4M3 ? (uint8_t)(0x80 | j) : (uint8_t)(0u - j);
}

/* Level (magnitude index) of a code byte. */
static inline uint32_t entq_grid_level_of(uint32_t kind, uint8_t code) {
    if (kind == ENTQ_CODES_E4M3) return code & 0x7fu;
    int v = (int8_t)code;
    return (uint32_t)(v < 0 ? -v : v);
}

/* Codes of one row at scale s > 0: code = round(fl32(w / s)). The divisions
 * run as one loop of their own (it vectorises), the rounding as another. */
static inline void entq_quantize_row(uint32_t kind, const float *w, uint32_t K, float s, uint8_t *codes) {
    float x[256];
    for (uint32_t k0 = 0; k0 < K; k0 += 256) {
        uint32_t n = K - k0 < 256 ? K - k0 : 256;
        for (uint32_t k = 0; k < n; k++) x[k] = w[k0 + k] / s;
        if (kind == ENTQ_CODES_E4M3)
            for (uint32_t k = 0; k < n; k++) codes[k0 + k] = entq_f32_to_e4m3(x[k]);
        else
            for (uint32_t k = 0; k < n; k++) codes[k0 + k] = entq_f32_to_int8(x[k]);
    }
}

/* Value of every code byte of a kind (NaN codes give NaN). */
static inline void entq_grid_values(uint32_t kind, float *values256) {
    for (uint32_t c = 0; c < 256; c++) values256[c] = kind == ENTQ_CODES_E4M3 ? entq_e4m3_to_f32((uint8_t)c) : entq_int8_to_f32((uint8_t)c);
}

#endif /* ENTQ_GRID_H */
