/* entq_rate_sample.h - one lambda for a whole model, from a sample of each tensor's rows.
 *
 * EntQuant splits bits between tensors with one lambda for the model; a
 * target rate for the model then needs the lambda at which the tensors'
 * streams add up to it. Coded bits/weight is an average over rows, so a few
 * percent of a tensor's rows predict it: entq_rate_sample_make keeps the
 * tensor's statistics (those of every row: sum |W| weighs the objective,
 * max |W| sets scale_base, the outlier rule decides the fallback) and a copy
 * of rows at evenly spaced ranks of their sum |w| (a stratified sample: a
 * row's size drives its bits); entq_model_lambda then searches lambda on the
 * model's predicted bits/weight, each evaluation one pass over every
 * tensor's sampled rows together (spread over threads row by row, so a
 * model of one large tensor scales as well as one of many small ones).
 * The conversion then quantises each tensor in full at that lambda: exactly
 * a fixed-lambda conversion, so the target costs the sample passes only.
 */
#ifndef ENTQ_RATE_SAMPLE_H
#define ENTQ_RATE_SAMPLE_H

#include <functional>

#include "entq_quantize.h"

struct entq_rate_sample {
    entq_detail::Tensor t;     /* the whole tensor's statistics; t.W and t.amax: the sampled rows' */
    std::vector<float> rows;   /* n_rows x K */
    uint32_t n_rows = 0;
    bool fell_back = false;
    double outlier_gap = 0;
    double fixed_bits = 0;     /* fell back: absmax's bits/weight, whatever lambda */
    double lambda_scale = 1;   /* the tensor is coded at the model's lambda times this (a per-tensor split) */
    uint64_t weights() const { return (uint64_t)t.N * t.K; }
};

/* Samples W (N x K, row-major f32): sample_rows rows (all of them when
 * sample_rows >= N). o: code kind, fallback gap, segment size and
 * threads as for entq_quantize_tensor; the method is L1. */
inline int entq_rate_sample_make(const float *W, uint32_t N, uint32_t K, const entq_quant_opts &o, uint32_t sample_rows,
                                 entq_rate_sample &s, std::string &error) {
    using namespace entq_detail;
    if (o.method != ENTQ_METHOD_L1 || o.target_bits > 0) { error = "a rate sample is measured for method l1 at given lambdas"; return ENTQ_QUANT_ERR_ARG; }
    if (sample_rows == 0) { error = "a rate sample needs at least one row"; return ENTQ_QUANT_ERR_ARG; }
    entq_quant_report rep;
    int st = prepare(W, N, K, o, s.t, rep, error);
    if (st != ENTQ_QUANT_OK) return st;
    s.fell_back = rep.fell_back;
    s.outlier_gap = rep.outlier_gap;
    const uint32_t n = std::min(sample_rows, N);
    s.n_rows = n;
    s.rows.resize((size_t)n * K);
    /* stratified by the rows' sum |w|: evenly spaced ranks, so the sample holds large and small
     * rows in the tensor's proportions (a row's size drives its bits); ties keep row order */
    std::vector<uint32_t> order(N);
    for (uint32_t r = 0; r < N; r++) order[r] = r;
    if (n < N) std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return s.t.row_l1[a] < s.t.row_l1[b]; });
    std::vector<float> amax(n);
    for (uint32_t i = 0; i < n; i++) {
        const uint32_t r = order[(size_t)(((uint64_t)2 * i + 1) * N / (2ull * n))];
        memcpy(&s.rows[(size_t)i * K], W + (uint64_t)r * K, (size_t)K * sizeof(float));
        amax[i] = s.t.amax[r];
    }
    s.t.amax = std::move(amax);
    s.t.W = s.rows.data();
    if (s.fell_back) {
        std::vector<uint8_t> codes((size_t)n * K);
        std::vector<uint16_t> scales(n);
        PassSums ps;
        run_pass(s.t, nullptr, nullptr, n, codes.data(), scales.data(), ps);
        uint64_t sc[256];
        scale_counts(ps.counts, (double)N / n, sc);
        s.fixed_bits = bits_of(s.t, sc);
    }
    return ENTQ_QUANT_OK;
}

/* Predicted bits/weight of each sample's tensor at lambda (L1) into bits[i]:
 * one pass over all sampled rows on n_threads threads (0: all cores). */
inline void entq_rate_samples_bits(const entq_rate_sample *const *s, uint32_t n, double lambda, uint32_t n_threads, double *bits) {
    using namespace entq_detail;
    const uint32_t nt = n_threads ? n_threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<uint64_t> first(n + 1, 0);
    std::vector<entq_cost> cost(n);
    uint32_t max_k = 1;
    for (uint32_t i = 0; i < n; i++) {
        first[i + 1] = first[i] + (s[i]->fell_back ? 0 : s[i]->n_rows);
        entq_cost_l1(&cost[i], &s[i]->t.g, s[i]->t.abs_w, s[i]->t.N, s[i]->t.K, lambda * s[i]->lambda_scale);
        max_k = std::max(max_k, s[i]->t.K);
    }
    const uint64_t total = first[n];
    std::vector<PassSums> part((size_t)nt * n);
    parallel_for(nt, (uint32_t)std::min<uint64_t>(total, UINT32_MAX), 4, [&](uint32_t th, uint32_t b, uint32_t e) {
        RowBuf &rb = thread_row_buf(max_k);
        thread_local std::vector<uint8_t> q;
        if (q.size() < max_k) q.resize(max_k);
        uint32_t at = (uint32_t)(std::upper_bound(first.begin(), first.end(), (uint64_t)b) - first.begin()) - 1;
        for (uint32_t g = b; g < e; g++) {
            while (g >= first[at + 1]) at++;
            const entq_rate_sample &x = *s[at];
            const uint32_t i = g - (uint32_t)first[at];
            quantize_one_row(x.t, &cost[at], rb, x.rows.data() + (size_t)i * x.t.K, x.t.amax[i], q.data(), part[(size_t)th * n + at]);
        }
    });
    for (uint32_t i = 0; i < n; i++) {
        if (s[i]->fell_back) { bits[i] = s[i]->fixed_bits; continue; }
        uint64_t counts[256] = {}, sc[256];
        for (uint32_t th = 0; th < nt; th++)
            for (int c = 0; c < 256; c++) counts[c] += part[(size_t)th * n + i].counts[c];
        scale_counts(counts, (double)s[i]->t.N / s[i]->n_rows, sc);
        bits[i] = bits_of(s[i]->t, sc);
    }
}

struct entq_model_lambda_result {
    entq_lambda_result search;           /* lambda, predicted model bits/weight, evaluations, status */
    std::vector<double> tensor_bits;     /* each tensor's predicted bits/weight at search.lambda */
};

/* The one lambda at which the samples' tensors together have target bits per
 * weight (weighted by their sizes), to within tol. guess > 0: a lambda known
 * to be close (a re-aim), searched from in small steps; else a guess from the
 * target. on_eval (may be empty) hears every evaluation: (lambda, model bits/weight). */
inline entq_model_lambda_result entq_model_lambda(const entq_rate_sample *const *s, uint32_t n, double target, double tol,
                                                  uint32_t n_threads, const std::function<void(double, double)> &on_eval,
                                                  double guess = 0) {
    struct Ctx {
        const entq_rate_sample *const *s;
        uint32_t n, nt;
        double total;
        std::vector<double> bits;
        std::vector<std::pair<double, std::vector<double>>> seen;
        const std::function<void(double, double)> *on_eval;
    } ctx{s, n, n_threads, 0, std::vector<double>(n), {}, &on_eval};
    for (uint32_t i = 0; i < n; i++) ctx.total += (double)s[i]->weights();
    auto model_bits = [](void *p, double lambda) {
        Ctx &c = *(Ctx *)p;
        entq_rate_samples_bits(c.s, c.n, lambda, c.nt, c.bits.data());
        /* summed in sorted order: the same tensors in another order (a GGUF, its Hugging Face
         * folder) give the same sums, so the same search and the same lambda */
        std::vector<double> terms(c.n);
        for (uint32_t i = 0; i < c.n; i++) terms[i] = c.bits[i] * (double)c.s[i]->weights();
        std::sort(terms.begin(), terms.end());
        double sum = 0;
        for (double v : terms) sum += v;
        c.seen.emplace_back(lambda, c.bits);
        if (*c.on_eval) (*c.on_eval)(lambda, sum / c.total);
        return sum / c.total;
    };
    entq_model_lambda_result r;
    /* GUIDE 6: ~0.48 bits per octave of lambda, 4.8 bits near lambda 1 (FP8); steps of an octave bracket a good guess fast */
    r.search = guess > 0 ? entq_find_lambda(model_bits, &ctx, target, tol, guess, 1.05, ENTQ_L1_LAMBDA_MIN, ENTQ_L1_LAMBDA_MAX, 24)
                         : entq_find_lambda(model_bits, &ctx, target, tol, exp2((4.8 - target) / 0.48), 2, ENTQ_L1_LAMBDA_MIN, ENTQ_L1_LAMBDA_MAX, 24);
    for (const auto &e : ctx.seen)
        if (e.first == r.search.lambda) r.tensor_bits = e.second;
    return r;
}

#endif /* ENTQ_RATE_SAMPLE_H */
