/* entq_target_rate.h - the lambda that makes a tensor's stream a given size.
 *
 * bits(lambda), the coded bits per weight (header, scales, table, states and
 * payload, entq_stream_size.h), falls as lambda grows, about half a bit per
 * octave of lambda (GUIDE 6: 3.9 -> 3.86, 14.5 -> 2.93, 58 -> 1.93). The
 * search works on log2(lambda): bracket the target by stepping out from a
 * first guess, then regula falsi with the Illinois fix (the bracket shrinks
 * from both sides), ending at the first lambda within tol of the target or
 * at the closest one seen. bits() is a step function in principle, so the
 * bracket may close on a jump: then the closer side is returned.
 */
#ifndef ENTQ_TARGET_RATE_H
#define ENTQ_TARGET_RATE_H

#include <math.h>
#include <stdint.h>

typedef double (*entq_bits_fn)(void *ctx, double lambda);

enum entq_lambda_status {
    ENTQ_LAMBDA_OK = 0,       /* within tol */
    ENTQ_LAMBDA_CLOSEST,      /* bracketed, but no lambda within tol (a jump) or out of evaluations */
    ENTQ_LAMBDA_TOO_HIGH,     /* target above bits(lambda_min): not reachable */
    ENTQ_LAMBDA_TOO_LOW       /* target below bits(lambda_max): not reachable */
};

typedef struct entq_lambda_result {
    double lambda, bits;      /* the closest evaluation */
    double bits_min, bits_max;/* bits at the ends reached, for messages */
    uint32_t evals;
    int status;
} entq_lambda_result;

/* step: factor of the first bracketing steps (e.g. 4 from a rough guess,
 * 1.25 from a good one); it doubles (in log) after every step. */
static inline entq_lambda_result entq_find_lambda(entq_bits_fn f, void *ctx, double target, double tol, double lambda0,
                                                  double step, double lambda_min, double lambda_max, uint32_t max_evals) {
    entq_lambda_result res = {lambda0, 0, NAN, NAN, 0, ENTQ_LAMBDA_CLOSEST};
    double x = log2(lambda0), lx = log2(step);
    const double xmin = log2(lambda_min), xmax = log2(lambda_max);
    if (x < xmin) x = xmin;
    if (x > xmax) x = xmax;
#define ENTQ_EVAL_(xv, out)                                                            \
    do {                                                                               \
        out = f(ctx, exp2(xv));                                                        \
        res.evals++;                                                                   \
        if (res.evals == 1 || fabs(out - target) < fabs(res.bits - target)) {          \
            res.lambda = exp2(xv);                                                     \
            res.bits = out;                                                            \
        }                                                                              \
        if (fabs(out - target) <= tol) { res.status = ENTQ_LAMBDA_OK; return res; }    \
    } while (0)
    double b;
    ENTQ_EVAL_(x, b);
    /* bracket: xa has bits above the target, xb below */
    double xa, ba, xb, bb;
    if (b > target) {
        xa = x; ba = b;
        for (;;) {
            if (xa >= xmax) { res.bits_max = ba; res.status = ENTQ_LAMBDA_TOO_LOW; return res; }
            xb = fmin(xa + lx, xmax);
            ENTQ_EVAL_(xb, bb);
            if (bb < target) break;
            xa = xb; ba = bb; lx *= 2;
            if (res.evals >= max_evals) return res;
        }
    } else {
        xb = x; bb = b;
        for (;;) {
            if (xb <= xmin) { res.bits_min = bb; res.status = ENTQ_LAMBDA_TOO_HIGH; return res; }
            xa = fmax(xb - lx, xmin);
            ENTQ_EVAL_(xa, ba);
            if (ba > target) break;
            xb = xa; bb = ba; lx *= 2;
            if (res.evals >= max_evals) return res;
        }
    }
    /* Illinois regula falsi on g(x) = bits - target, g(xa) > 0 > g(xb) */
    int side = 0;
    double ga = ba - target, gb = bb - target;
    while (res.evals < max_evals && xb - xa > 1e-7) {
        double xn = (xa * gb - xb * ga) / (gb - ga);
        if (!(xn > xa && xn < xb)) xn = 0.5 * (xa + xb);
        double bn;
        ENTQ_EVAL_(xn, bn);
        double gn = bn - target;
        if (gn > 0) {
            xa = xn; ga = gn;
            if (side == +1) gb *= 0.5;
            side = +1;
        } else {
            xb = xn; gb = gn;
            if (side == -1) ga *= 0.5;
            side = -1;
        }
    }
#undef ENTQ_EVAL_
    return res;
}

#endif /* ENTQ_TARGET_RATE_H */
