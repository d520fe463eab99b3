/* entq_quantize.h - one tensor, end to end (C++: it runs rows on threads).
 *
 *   statistics -> fallback rule -> scale_base -> per-row scales -> codes
 *
 * Methods: ABSMAX (scale = the row's max / the grid's max, no search),
 * L1 (EntQuant's objective, entq_optimize_l1.h), ECQ (entropy-constrained,
 * entq_optimize_ecq.h). With target_bits > 0 the lambda is searched per
 * tensor (entq_target_rate.h) so that the stream's size, header, scales,
 * table and lane states included, is target_bits per weight.
 *
 * Cost control: rows are independent given the tensor's statistics, so a
 * pass over rows is split across threads (chunks of rows handed out
 * dynamically: rows differ in cost). The lambda search first runs on a
 * sample of rows (evenly spaced, about 2^20 weights; bits/weight of a sample
 * predicts the tensor's to ~0.01), then corrects on the whole tensor, which
 * usually takes one or two full passes. Memory beyond the caller's buffers:
 * per-row statistics (N floats), per-thread row scratch (~28 K bytes) and
 * the sample's codes.
 */
#ifndef ENTQ_QUANTIZE_H
#define ENTQ_QUANTIZE_H

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "entq_fallback.h"
#include "entq_optimize_ecq.h"
#include "entq_optimize_l1.h"
#include "entq_stream_size.h"
#include "entq_target_rate.h"

enum entq_method { ENTQ_METHOD_ABSMAX = 0, ENTQ_METHOD_L1 = 1, ENTQ_METHOD_ECQ = 2, ENTQ_METHOD_COUNT };

enum entq_quant_status {
    ENTQ_QUANT_OK = 0,
    ENTQ_QUANT_ERR_ARG,          /* bad shape or option */
    ENTQ_QUANT_ERR_NONFINITE,    /* a weight is NaN or infinite */
    ENTQ_QUANT_ERR_TARGET        /* the target rate cannot be reached */
};

struct entq_quant_opts {
    uint32_t code_kind = ENTQ_CODES_E4M3;
    uint32_t method = ENTQ_METHOD_L1;
    double lambda = 14.5;             /* L1: EntQuant's lambda; ECQ: weight of bits/weight against relative MSE */
    double target_bits = 0;           /* > 0: search lambda so the stream has this many bits per weight */
    uint32_t ecq_iters = 4;           /* ECQ: distribution re-estimates */
    double ecq_init_lambda = 14.5;    /* ECQ without a target: the L1 solution it starts from */
    double fallback_gap = ENTQ_FALLBACK_GAP; /* entq_fallback.h; <= 0 disables */
    uint32_t n_threads = 0;           /* 0: all hardware threads */
    uint32_t segment_symbols = 0;     /* as entq_params: the stream the size is estimated for */
    bool exhaustive = false;          /* every stored scale per row (slow): the reference search */
};

struct entq_quant_report {
    uint32_t method = 0;              /* what ran: ABSMAX after a fallback */
    bool fell_back = false;
    double outlier_gap = 0;           /* entq_outlier_gap */
    float scale_base = 1;
    double lambda = 0;                /* lambda used (found, with a target) */
    double objective = 0;             /* L1, ABSMAX: EntQuant's L at lambda; ECQ: rel. MSE + lambda * bits/weight */
    entq_error_sums err = {};
    uint64_t counts[256] = {};        /* code histogram */
    double est_bytes = 0;             /* entq_stream_bytes_estimate of the codes */
    double bits_per_weight = 0;       /* est_bytes * 8 / (N K) */
    uint32_t passes = 0;              /* passes over every row */
    uint32_t sample_passes = 0;       /* passes over the sample */
    uint32_t sample_rows = 0;
};

#define ENTQ_L1_LAMBDA_MIN (1.0 / 65536)
#define ENTQ_L1_LAMBDA_MAX 16777216.0
#define ENTQ_ECQ_LAMBDA_MIN 1e-9
#define ENTQ_ECQ_LAMBDA_MAX 1e3
#define ENTQ_SAMPLE_WEIGHTS (1u << 20) /* weights in the lambda searches' row sample */

namespace entq_detail {

/* fn(thread, begin, end) over [0, n) in chunks, on n_threads threads. */
template <class F>
void parallel_for(uint32_t n_threads, uint32_t n, uint32_t chunk, F &&fn) {
    uint32_t nt = std::min<uint32_t>(n_threads, (n + chunk - 1) / chunk);
    if (nt <= 1) {
        if (n) fn(0u, 0u, n);
        return;
    }
    std::atomic<uint32_t> next{0};
    auto work = [&](uint32_t t) {
        for (;;) {
            uint32_t b = next.fetch_add(chunk);
            if (b >= n) break;
            fn(t, b, std::min(n, b + chunk));
        }
    };
    std::vector<std::thread> pool;
    for (uint32_t t = 1; t < nt; t++) pool.emplace_back(work, t);
    work(0);
    for (auto &th : pool) th.join();
}

struct RowBuf {
    std::vector<float> a;
    std::vector<uint32_t> tmp;
    std::vector<double> p1, p2;
    entq_row row{};
    explicit RowBuf(uint32_t K) : a(K), tmp(2 * (size_t)K), p1(K + 1), p2(K + 1) {
        row.a = a.data();
        row.tmp = tmp.data();
        row.p1 = p1.data();
        row.p2 = p2.data();
    }
};

struct PassSums {
    uint64_t counts[256] = {};
    entq_error_sums err = {};
};

struct Tensor {
    const float *W;
    uint32_t N, K, nt;
    entq_quant_opts o;
    entq_grid g;
    std::vector<float> amax;
    std::vector<float> row_l1;   /* sum |w| of each row: what a rate sample is stratified by */
    double abs_w = 0, sq_w = 0;
    float base = 1;
};

/* This thread's row scratch, for rows of up to K weights (kept for later passes). */
inline RowBuf &thread_row_buf(uint32_t K) {
    thread_local std::vector<RowBuf> bufs;
    if (bufs.empty() || bufs[0].a.size() < K) { bufs.clear(); bufs.emplace_back(K); }
    return bufs[0];
}

/* One row of t (weights w, largest magnitude am): codes into q (K bytes),
 * counted into ps; returns the stored scale. cost null means absmax. */
inline uint16_t quantize_one_row(const Tensor &t, const entq_cost *cost, RowBuf &rb, const float *w, float am, uint8_t *q,
                                 PassSums &ps) {
    const uint32_t K = t.K, kind = t.g.code_kind;
    uint16_t h = 0;
    if (am > 0.0f) {
        if (!cost) {
            const float gmax = t.g.level[t.g.n_levels - 1];
            h = std::max(entq_scale_f16_up(am / gmax, t.base), entq_scale_f16_min(t.base)); /* am / gmax may underflow */
        } else {
            double v;
            entq_row_load(&rb.row, w, K, cost->dist == ENTQ_DIST_SQ);
            h = entq_optimize_row(&rb.row, cost, t.base, t.o.exhaustive, &v);
        }
        entq_quantize_row(kind, w, K, entq_scale_value(t.base, h), q);
    } else {
        memset(q, 0, K);
    }
    for (uint32_t k = 0; k < K; k++) ps.counts[q[k]]++;
    entq_error_rows(kind, w, K, 0, 1, q, t.base, &h, &ps.err);
    return h;
}

/* Quantises rows (rows[i], or i when rows is null) for i < n: scale i and
 * codes i * K of the outputs; cost null means absmax scales. */
inline void run_pass(const Tensor &t, const entq_cost *cost, const uint32_t *rows, uint32_t n, uint8_t *codes,
                     uint16_t *scales, PassSums &out) {
    std::vector<PassSums> part(std::max<uint32_t>(t.nt, 1));
    const uint32_t K = t.K;
    parallel_for(t.nt, n, 16, [&](uint32_t th, uint32_t b, uint32_t e) {
        RowBuf &rb = thread_row_buf(K);
        for (uint32_t i = b; i < e; i++) {
            const uint32_t r = rows ? rows[i] : i;
            scales[i] = quantize_one_row(t, cost, rb, t.W + (uint64_t)r * K, t.amax[r], codes + (uint64_t)i * K, part[th]);
        }
    });
    for (const auto &p : part) {
        for (int s = 0; s < 256; s++) out.counts[s] += p.counts[s];
        entq_error_sums_add(&out.err, &p.err);
    }
}

inline double bits_of(const Tensor &t, const uint64_t *counts) {
    return entq_stream_bytes_estimate(counts, t.N, t.K, t.g.code_kind, t.o.segment_symbols) * 8.0 / ((double)t.N * t.K);
}

/* Counts of a sample scaled to the whole tensor (present symbols stay present). */
inline void scale_counts(const uint64_t *in, double f, uint64_t *out) {
    for (int s = 0; s < 256; s++) out[s] = in[s] ? std::max<uint64_t>(1, (uint64_t)std::llround((double)in[s] * f)) : 0;
}

/* The lambda searches: evaluations on the sample or on the whole tensor. */
struct Search {
    Tensor *t;
    std::vector<uint32_t> rows;          /* the sample */
    std::vector<uint8_t> s_codes;
    std::vector<uint16_t> s_scales;
    uint8_t *codes;                      /* the outputs */
    uint16_t *scales;
    entq_quant_report *rep;
    bool sample_is_all;
    double ecq_init_counts[256] = {};    /* ECQ starts from this distribution */
    double ecq_last_counts[256] = {};    /* the table of the last sample iteration */
    PassSums last_full;
    double last_full_lambda = NAN;
    double last_rel_mse = 0;

    PassSums pass(const entq_cost *c, bool full) {
        PassSums ps;
        if (full || sample_is_all) {
            run_pass(*t, c, nullptr, t->N, codes, scales, ps);
            rep->passes++;
        } else {
            run_pass(*t, c, rows.data(), (uint32_t)rows.size(), s_codes.data(), s_scales.data(), ps);
            rep->sample_passes++;
            uint64_t sc[256];
            scale_counts(ps.counts, (double)t->N / rows.size(), sc);
            memcpy(ps.counts, sc, sizeof(sc));
        }
        last_rel_mse = ps.err.sq_w > 0 ? ps.err.sq_err / ps.err.sq_w : 0;
        return ps;
    }
    double l1(double lambda, bool full) {
        entq_cost c;
        entq_cost_l1(&c, &t->g, t->abs_w, t->N, t->K, lambda);
        PassSums ps = pass(&c, full);
        if (full || sample_is_all) { last_full = ps; last_full_lambda = lambda; }
        return bits_of(*t, ps.counts);
    }
    /* ECQ at lambda: iterate on the sample from ecq_init_counts; with full,
     * one more pass over the whole tensor with the last table. */
    double ecq(double lambda, bool full) {
        double cnt[256];
        memcpy(cnt, ecq_init_counts, sizeof(cnt));
        PassSums ps;
        entq_cost c;
        for (uint32_t it = 0; it < t->o.ecq_iters; it++) {
            entq_cost_ecq(&c, &t->g, t->sq_w, t->N, t->K, lambda, cnt);
            ps = pass(&c, false);
            for (int s = 0; s < 256; s++) cnt[s] = (double)ps.counts[s];
        }
        memcpy(ecq_last_counts, cnt, sizeof(cnt));
        if (full && !sample_is_all) {
            entq_cost_ecq(&c, &t->g, t->sq_w, t->N, t->K, lambda, cnt);
            ps = pass(&c, true);
        }
        if (full || sample_is_all) { last_full = ps; last_full_lambda = lambda; }
        return bits_of(*t, ps.counts);
    }
    static double l1_sample(void *p, double l) { return ((Search *)p)->l1(l, false); }
    static double l1_full(void *p, double l) { return ((Search *)p)->l1(l, true); }
    static double ecq_sample(void *p, double l) { return ((Search *)p)->ecq(l, false); }
    static double ecq_full(void *p, double l) { return ((Search *)p)->ecq(l, true); }
};

inline std::string fmt(const char *f, double a, double b = 0, double c = 0) {
    char buf[256];
    snprintf(buf, sizeof buf, f, a, b, c);
    return buf;
}

/* Checks the options, gathers the statistics, applies the fallback rule and
 * picks scale_base: everything before the rows are quantised. */
inline int prepare(const float *W, uint32_t N, uint32_t K, const entq_quant_opts &o, Tensor &t, entq_quant_report &rep,
                   std::string &error) {
    rep = entq_quant_report();
    if (N == 0 || K == 0) { error = "tensor is empty (N or K is 0)"; return ENTQ_QUANT_ERR_ARG; }
    if (!W) { error = "missing buffer"; return ENTQ_QUANT_ERR_ARG; }
    if (!entq_grid_kind_ok(o.code_kind)) { error = "code kind must be E4M3 or INT8"; return ENTQ_QUANT_ERR_ARG; }
    if (o.method >= ENTQ_METHOD_COUNT) { error = "unknown method"; return ENTQ_QUANT_ERR_ARG; }
    if (!(o.lambda >= 0) || !std::isfinite(o.lambda)) { error = "lambda must be finite and >= 0"; return ENTQ_QUANT_ERR_ARG; }
    if (!(o.target_bits >= 0) || !std::isfinite(o.target_bits)) { error = "target bits must be finite and >= 0"; return ENTQ_QUANT_ERR_ARG; }
    if (o.target_bits > 0 && o.method == ENTQ_METHOD_ABSMAX) { error = "a target rate needs an optimising method (l1 or ecq), not absmax"; return ENTQ_QUANT_ERR_ARG; }
    if (o.method == ENTQ_METHOD_ECQ && (o.ecq_iters < 1 || o.ecq_iters > 100)) { error = "ecq iterations must be 1..100"; return ENTQ_QUANT_ERR_ARG; }
    if (!(o.ecq_init_lambda >= 0) || !std::isfinite(o.ecq_init_lambda)) { error = "ecq init lambda must be finite and >= 0"; return ENTQ_QUANT_ERR_ARG; }

    t.W = W;
    t.N = N;
    t.K = K;
    t.o = o;
    t.nt = o.n_threads ? o.n_threads : std::max(1u, std::thread::hardware_concurrency());
    entq_grid_init(&t.g, o.code_kind);
    t.amax.assign(N, 0.0f);
    t.row_l1.assign(N, 0.0f);

    /* statistics: row maxima, sums, the largest magnitudes, finiteness */
    struct Stat { double abs_w = 0, sq_w = 0; entq_top top = {}; uint64_t bad = UINT64_MAX; };
    std::vector<Stat> st(t.nt);
    parallel_for(t.nt, N, 64, [&](uint32_t th, uint32_t b, uint32_t e) {
        Stat &s = st[th];
        for (uint32_t r = b; r < e; r++) {
            const float *w = W + (uint64_t)r * K;
            float am = 0;
            double a1 = 0, a2 = 0;
            /* 8 float lanes per block of 256 (vectorises; a serial double sum ran at 1 weight per
             * add latency); NaN or inf shows in the sums, as does a square past f32's range */
            for (uint32_t k0 = 0; k0 < K; k0 += 256) {
                const uint32_t m = std::min<uint32_t>(256, K - k0);
                float l1[8] = {}, l2[8] = {}, lm[8] = {};
                uint32_t k = 0;
                for (; k + 8 <= m; k += 8)
                    for (int u = 0; u < 8; u++) {
                        const float a = fabsf(w[k0 + k + u]);
                        l1[u] += a;
                        l2[u] += a * a;
                        lm[u] = lm[u] > a ? lm[u] : a;
                    }
                for (; k < m; k++) {
                    const float a = fabsf(w[k0 + k]);
                    l1[0] += a;
                    l2[0] += a * a;
                    lm[0] = lm[0] > a ? lm[0] : a;
                }
                for (int u = 0; u < 8; u++) a1 += l1[u], a2 += l2[u], am = std::max(am, lm[u]);
            }
            if (!std::isfinite(a2)) { /* a weight that is not finite, or squares too large for f32 */
                a1 = a2 = 0;
                am = 0;
                for (uint32_t k = 0; k < K; k++) {
                    if (!entq_isfinite(w[k])) { s.bad = std::min<uint64_t>(s.bad, (uint64_t)r * K + k); break; }
                    const float a = fabsf(w[k]);
                    a1 += a;
                    a2 += (double)a * a;
                    am = std::max(am, a);
                }
            }
            if (s.top.n < ENTQ_FALLBACK_RANK || am > s.top.v[ENTQ_FALLBACK_RANK - 1])
                for (uint32_t k = 0; k < K; k++) {
                    const float a = fabsf(w[k]);
                    if (s.top.n < ENTQ_FALLBACK_RANK || a > s.top.v[ENTQ_FALLBACK_RANK - 1]) entq_top_push(&s.top, a);
                }
            t.amax[r] = am;
            t.row_l1[r] = (float)a1;
            s.abs_w += a1;
            s.sq_w += a2;
        }
    });
    entq_top top = {};
    uint64_t bad = UINT64_MAX;
    for (const auto &s : st) {
        t.abs_w += s.abs_w;
        t.sq_w += s.sq_w;
        entq_top_merge(&top, &s.top);
        bad = std::min(bad, s.bad);
    }
    if (bad != UINT64_MAX) {
        error = "weight [row " + std::to_string(bad / K) + ", column " + std::to_string(bad % K) + "] is " +
                (std::isnan(W[bad]) ? "NaN" : "infinite");
        return ENTQ_QUANT_ERR_NONFINITE;
    }
    float tmax = 0;
    for (float a : t.amax) tmax = std::max(tmax, a);

    rep.outlier_gap = entq_outlier_gap(&top);
    rep.fell_back = o.method != ENTQ_METHOD_ABSMAX && entq_fallback_decide(&top, o.fallback_gap);
    rep.method = rep.fell_back ? (uint32_t)ENTQ_METHOD_ABSMAX : o.method;
    const float max_scale = rep.method == ENTQ_METHOD_ABSMAX ? tmax / t.g.level[t.g.n_levels - 1] : entq_row_scale_max(&t.g, tmax);
    /* every dequantised value must stay finite in f32 (entq_parse refuses the stream otherwise): the
     * largest scale times the largest code, with a factor 2 for the scale search's step past it */
    if (!entq_isfinite(max_scale) || !entq_isfinite(2.0f * max_scale * t.g.level[t.g.n_levels - 1])) {
        error = fmt("weights too large: max |w| = %g leaves no row scale whose dequantised values are finite in f32", tmax);
        return ENTQ_QUANT_ERR_ARG;
    }
    t.base = entq_scale_base(max_scale);
    rep.scale_base = t.base;
    rep.lambda = o.lambda;
    return ENTQ_QUANT_OK;
}

/* The row sample of the lambda searches: evenly spaced rows, ~2^20 weights
 * (at least 128 rows); the whole tensor when that is not much more. */
inline void setup_sample(Search &sr, uint32_t N, uint32_t K) {
    const uint32_t want = std::max<uint32_t>(128, (uint32_t)std::min<uint64_t>(N, (ENTQ_SAMPLE_WEIGHTS + K - 1) / K));
    sr.sample_is_all = (uint64_t)N * K <= 2ull * ENTQ_SAMPLE_WEIGHTS || want >= N;
    if (!sr.sample_is_all) {
        sr.rows.resize(want);
        for (uint32_t i = 0; i < want; i++) sr.rows[i] = (uint32_t)(((uint64_t)2 * i + 1) * N / (2ull * want));
        sr.s_codes.resize((size_t)want * K);
        sr.s_scales.resize(want);
    }
    sr.rep->sample_rows = sr.sample_is_all ? N : want;
}

}  // namespace entq_detail

/* Quantises W (N rows x K, row-major f32) into codes (N K bytes) and
 * row_scales (N f16 bits), with rep.scale_base the stream's scale_base.
 * Returns entq_quant_status; error says what went wrong. */
inline int entq_quantize_tensor(const float *W, uint32_t N, uint32_t K, const entq_quant_opts &o, uint8_t *codes,
                                uint16_t *row_scales, entq_quant_report &rep, std::string &error) {
    using namespace entq_detail;
    if (!codes || !row_scales) { error = "missing buffer"; return ENTQ_QUANT_ERR_ARG; }
    Tensor t;
    int st = prepare(W, N, K, o, t, rep, error);
    if (st != ENTQ_QUANT_OK) return st;

    Search sr;
    sr.t = &t;
    sr.codes = codes;
    sr.scales = row_scales;
    sr.rep = &rep;
    setup_sample(sr, N, K);

    auto target_error = [&](const entq_lambda_result &res) {
        if (res.status == ENTQ_LAMBDA_TOO_HIGH)
            error = fmt("target %.3f bits/weight is above what this tensor reaches (%.3f at the smallest lambda)", o.target_bits, res.bits_min);
        else
            error = fmt("target %.3f bits/weight is below what this tensor reaches (%.3f at the largest lambda: scales and header alone cost that much)", o.target_bits, res.bits_max);
        return ENTQ_QUANT_ERR_TARGET;
    };
    /* a lambda search: on the sample first, then corrected on the whole tensor */
    auto solve = [&](entq_bits_fn fs, entq_bits_fn ff, double guess, double lmin, double lmax, entq_lambda_result &out) {
        double l0 = guess, step = 4;
        if (!sr.sample_is_all) {
            entq_lambda_result rs = entq_find_lambda(fs, &sr, o.target_bits, 0.01, guess, 4, lmin, lmax, 40);
            if (rs.status >= ENTQ_LAMBDA_TOO_HIGH) { out = rs; return false; }
            l0 = rs.lambda;
            step = 1.25;
        }
        out = entq_find_lambda(ff, &sr, o.target_bits, 0.02, l0, step, lmin, lmax, sr.sample_is_all ? 40 : 8);
        if (out.status >= ENTQ_LAMBDA_TOO_HIGH) return false;
        if (out.lambda != sr.last_full_lambda) ff(&sr, out.lambda); /* the outputs hold the chosen lambda */
        return true;
    };

    if (rep.method == ENTQ_METHOD_ABSMAX) {
        PassSums ps;
        run_pass(t, nullptr, nullptr, N, codes, row_scales, ps);
        rep.passes++;
        sr.last_full = ps;
    } else if (rep.method == ENTQ_METHOD_L1) {
        if (o.target_bits > 0) {
            entq_lambda_result res;
            double guess = exp2((4.8 - o.target_bits) / 0.48); /* GUIDE 6: ~0.48 bits per octave */
            if (!solve(Search::l1_sample, Search::l1_full, guess, ENTQ_L1_LAMBDA_MIN, ENTQ_L1_LAMBDA_MAX, res)) return target_error(res);
            rep.lambda = res.lambda;
        } else {
            sr.l1(o.lambda, true);
        }
    } else {
        /* ECQ starts from an L1 solution: at the target's lambda, or at ecq_init_lambda */
        double l1_lambda = o.ecq_init_lambda;
        if (o.target_bits > 0) {
            entq_lambda_result res = entq_find_lambda(sr.sample_is_all ? Search::l1_full : Search::l1_sample, &sr, o.target_bits, 0.02,
                                                      exp2((4.8 - o.target_bits) / 0.48), 4, ENTQ_L1_LAMBDA_MIN, ENTQ_L1_LAMBDA_MAX, 40);
            if (res.status >= ENTQ_LAMBDA_TOO_HIGH) return target_error(res);
            l1_lambda = res.lambda;
        }
        entq_cost c;
        entq_cost_l1(&c, &t.g, t.abs_w, N, K, l1_lambda);
        PassSums init = sr.pass(&c, false);
        for (int s = 0; s < 256; s++) sr.ecq_init_counts[s] = (double)init.counts[s];
        if (o.target_bits > 0) {
            /* at the optimum lambda = -d(rel. MSE)/d(bits), about 2 ln 2 * rel. MSE */
            double guess = std::max(1.3862943611198906 * sr.last_rel_mse, 1e-8);
            entq_lambda_result res;
            if (!solve(Search::ecq_sample, Search::ecq_full, guess, ENTQ_ECQ_LAMBDA_MIN, ENTQ_ECQ_LAMBDA_MAX, res)) return target_error(res);
            rep.lambda = res.lambda;
        } else {
            sr.ecq(o.lambda, true);
        }
    }

    memcpy(rep.counts, sr.last_full.counts, sizeof(rep.counts));
    rep.err = sr.last_full.err;
    rep.est_bytes = entq_stream_bytes_estimate(rep.counts, N, K, o.code_kind, o.segment_symbols);
    rep.bits_per_weight = rep.est_bytes * 8.0 / ((double)N * K);
    rep.objective = rep.method == ENTQ_METHOD_ECQ ? entq_rel_l2(&rep.err) * entq_rel_l2(&rep.err) + rep.lambda * rep.bits_per_weight
                                                  : entq_objective_value(o.code_kind, rep.lambda, &rep.err);
    return ENTQ_QUANT_OK;
}

static inline const char *entq_method_name(uint32_t m) {
    return m == ENTQ_METHOD_ABSMAX ? "absmax" : m == ENTQ_METHOD_L1 ? "l1" : m == ENTQ_METHOD_ECQ ? "ecq" : "unknown";
}

#endif /* ENTQ_QUANTIZE_H */
