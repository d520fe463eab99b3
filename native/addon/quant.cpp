// Addon part "quant": quantise a tensor (native/quant/entq_quantize.h) in a
// Napi::AsyncWorker; inside it the rows are spread over threads. Errors cross
// the boundary with .code = "ENTQ_QUANT_<NAME>"; src/quant/ turns them into
// typed errors.
#include <cstring>
#include <string>
#include <vector>

#include "exports.h"
#include "napiArgs.h"
#include "quant/entq_quantize.h"

namespace {

const char *quantStatusName(int st) {
    switch (st) {
    case ENTQ_QUANT_ERR_ARG: return "ARG";
    case ENTQ_QUANT_ERR_NONFINITE: return "NONFINITE";
    case ENTQ_QUANT_ERR_TARGET: return "TARGET";
    default: return "UNKNOWN";
    }
}

Napi::Object sumsObject(Napi::Env env, const entq_error_sums &e) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("relL1", entq_rel_l1(&e));
    o.Set("relL2", entq_rel_l2(&e));
    o.Set("absErr", e.abs_err);
    o.Set("absW", e.abs_w);
    o.Set("sqErr", e.sq_err);
    o.Set("sqW", e.sq_w);
    o.Set("meanAbsQ", e.n ? e.abs_q / (double)e.n : 0.0);
    return o;
}

class QuantizeWorker : public Napi::AsyncWorker {
public:
    QuantizeWorker(Napi::Env env, Held<float> w, uint32_t N, uint32_t K, entq_quant_opts o)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), w_(std::move(w)), N_(N), K_(K), o_(o) {}
    Napi::Promise promise() { return deferred_.Promise(); }

protected:
    void Execute() override {
        codes_ = new std::vector<uint8_t>((size_t)N_ * K_);
        scales_.assign(N_, 0);
        status_ = entq_quantize_tensor(w_.data, N_, K_, o_, codes_->data(), scales_.data(), rep_, error_);
    }
    void OnOK() override {
        Napi::Env env = Env();
        if (status_ != ENTQ_QUANT_OK) {
            delete codes_;
            Napi::Error e = Napi::Error::New(env, error_);
            e.Set("code", Napi::String::New(env, std::string("ENTQ_QUANT_") + quantStatusName(status_)));
            deferred_.Reject(e.Value());
            return;
        }
        Napi::Object r = Napi::Object::New(env);
        std::vector<uint8_t> *c = codes_;
        r.Set("codes", Napi::Buffer<uint8_t>::New(env, c->data(), c->size(), [](Napi::Env, uint8_t *, std::vector<uint8_t> *p) { delete p; }, c));
        Napi::Uint16Array s = Napi::Uint16Array::New(env, N_);
        std::memcpy(s.Data(), scales_.data(), 2 * (size_t)N_);
        r.Set("rowScales", s);
        r.Set("scaleBase", rep_.scale_base);
        r.Set("method", entq_method_name(rep_.method));
        r.Set("fellBack", rep_.fell_back);
        r.Set("outlierGap", rep_.outlier_gap);
        r.Set("lambda", rep_.lambda);
        r.Set("objective", rep_.objective);
        r.Set("error", sumsObject(env, rep_.err));
        r.Set("estimatedBytes", rep_.est_bytes);
        r.Set("bitsPerWeight", rep_.bits_per_weight);
        r.Set("passes", rep_.passes);
        r.Set("samplePasses", rep_.sample_passes);
        r.Set("sampleRows", rep_.sample_rows);
        double n = (double)N_ * K_, h = 0;
        for (int i = 0; i < 256; i++)
            if (rep_.counts[i]) h -= (double)rep_.counts[i] / n * std::log2((double)rep_.counts[i] / n);
        r.Set("entropyBits", h);
        deferred_.Resolve(r);
    }
    void OnError(const Napi::Error &e) override {
        delete codes_;
        deferred_.Reject(e.Value());
    }

private:
    Napi::Promise::Deferred deferred_;
    Held<float> w_;
    uint32_t N_, K_;
    entq_quant_opts o_;
    std::vector<uint8_t> *codes_ = nullptr;
    std::vector<uint16_t> scales_;
    entq_quant_report rep_;
    int status_ = ENTQ_QUANT_OK;
    std::string error_;
};

// Options shared by quantize and quantRateCurve.
entq_quant_opts quantOptions(const Napi::Object &o) {
    entq_quant_opts q;
    q.code_kind = u32Opt(o, "codeKind", q.code_kind);
    q.method = u32Opt(o, "method", q.method);
    q.lambda = numberOpt(o, "lambda", q.lambda);
    q.target_bits = numberOpt(o, "targetBits", q.target_bits);
    q.ecq_iters = u32Opt(o, "ecqIters", q.ecq_iters);
    q.ecq_init_lambda = numberOpt(o, "ecqInitLambda", q.ecq_init_lambda);
    q.fallback_gap = numberOpt(o, "fallbackGap", q.fallback_gap);
    q.n_threads = u32Opt(o, "threads", 0);
    q.segment_symbols = u32Opt(o, "segmentSymbols", 0);
    q.exhaustive = !o.Get("exhaustive").IsUndefined() && o.Get("exhaustive").ToBoolean();
    return q;
}

// quantize(weights: Float32Array, N, K, {codeKind, method, lambda, targetBits,
//   ecqIters, ecqInitLambda, fallbackGap, threads, segmentSymbols, exhaustive}) -> Promise
Napi::Value quantize(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[3].IsObject()) throw Napi::TypeError::New(env, "quantize(weights, N, K, options)");
    Held<float> w = hold<float>(info[0], "weights", napi_float32_array);
    uint32_t N = u32Arg(info[1], "N", 1), K = u32Arg(info[2], "K", 1);
    if ((uint64_t)N * K != w.length)
        throw Napi::RangeError::New(env, "weights holds " + std::to_string(w.length) + " values, N x K = " + std::to_string((uint64_t)N * K));
    entq_quant_opts q = quantOptions(info[3].As<Napi::Object>());
    auto *wk = new QuantizeWorker(env, std::move(w), N, K, q);
    Napi::Promise p = wk->promise();
    wk->Queue();
    return p;
}

class RateCurveWorker : public Napi::AsyncWorker {
public:
    RateCurveWorker(Napi::Env env, Held<float> w, uint32_t N, uint32_t K, std::vector<double> lambdas, entq_quant_opts o)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), w_(std::move(w)), N_(N), K_(K),
          lambdas_(std::move(lambdas)), bits_(lambdas_.size()), o_(o) {}
    Napi::Promise promise() { return deferred_.Promise(); }

protected:
    void Execute() override {
        status_ = entq_rate_curve(w_.data, N_, K_, o_, lambdas_.data(), (uint32_t)lambdas_.size(), bits_.data(), rep_, error_);
    }
    void OnOK() override {
        Napi::Env env = Env();
        if (status_ != ENTQ_QUANT_OK) {
            Napi::Error e = Napi::Error::New(env, error_);
            e.Set("code", Napi::String::New(env, std::string("ENTQ_QUANT_") + quantStatusName(status_)));
            deferred_.Reject(e.Value());
            return;
        }
        Napi::Object r = Napi::Object::New(env);
        Napi::Float64Array b = Napi::Float64Array::New(env, bits_.size());
        std::memcpy(b.Data(), bits_.data(), bits_.size() * sizeof(double));
        r.Set("bits", b);
        r.Set("method", entq_method_name(rep_.method));
        r.Set("fellBack", rep_.fell_back);
        r.Set("outlierGap", rep_.outlier_gap);
        r.Set("sampleRows", rep_.sample_rows);
        deferred_.Resolve(r);
    }
    void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

private:
    Napi::Promise::Deferred deferred_;
    Held<float> w_;
    uint32_t N_, K_;
    std::vector<double> lambdas_, bits_;
    entq_quant_opts o_;
    entq_quant_report rep_;
    int status_ = ENTQ_QUANT_OK;
    std::string error_;
};

// quantRateCurve(weights: Float32Array, N, K, lambdas: Float64Array, options as quantize)
//   -> Promise<{bits: Float64Array, method, fellBack, outlierGap, sampleRows}>
Napi::Value quantRateCurve(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[4].IsObject()) throw Napi::TypeError::New(env, "quantRateCurve(weights, N, K, lambdas, options)");
    Held<float> w = hold<float>(info[0], "weights", napi_float32_array);
    uint32_t N = u32Arg(info[1], "N", 1), K = u32Arg(info[2], "K", 1);
    if ((uint64_t)N * K != w.length)
        throw Napi::RangeError::New(env, "weights holds " + std::to_string(w.length) + " values, N x K = " + std::to_string((uint64_t)N * K));
    Held<double> l = hold<double>(info[3], "lambdas", napi_float64_array);
    std::vector<double> lambdas(l.data, l.data + l.length);
    auto *wk = new RateCurveWorker(env, std::move(w), N, K, std::move(lambdas), quantOptions(info[4].As<Napi::Object>()));
    Napi::Promise p = wk->promise();
    wk->Queue();
    return p;
}

// quantObjective(weights: Float32Array, codes: Uint8Array, rowScales: Uint16Array,
//   scaleBase, N, K, codeKind, lambda) -> {objective, relL1, relL2, ...}
// One O(N K) pass on the calling thread: for checks on small tensors.
Napi::Value quantObjective(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 8) throw Napi::TypeError::New(env, "quantObjective(weights, codes, rowScales, scaleBase, N, K, codeKind, lambda)");
    Held<float> w = hold<float>(info[0], "weights", napi_float32_array);
    Held<uint8_t> c = hold<uint8_t>(info[1], "codes", napi_uint8_array);
    Held<uint16_t> s = hold<uint16_t>(info[2], "rowScales", napi_uint16_array);
    if (!info[3].IsNumber() || !info[7].IsNumber()) throw Napi::TypeError::New(env, "scaleBase and lambda must be numbers");
    float base = info[3].As<Napi::Number>().FloatValue();
    uint32_t N = u32Arg(info[4], "N", 1), K = u32Arg(info[5], "K", 1);
    uint32_t kind = info[6].IsNumber() ? info[6].As<Napi::Number>().Uint32Value() : 99;
    double lambda = info[7].As<Napi::Number>().DoubleValue();
    if (!entq_grid_kind_ok(kind)) throw Napi::RangeError::New(env, "codeKind must be E4M3 (0) or INT8 (1)");
    uint64_t n = (uint64_t)N * K;
    if (w.length != n || c.length != n || s.length != N)
        throw Napi::RangeError::New(env, "weights and codes must hold N x K values, rowScales N");
    entq_error_sums e = {};
    entq_error_rows(kind, w.data, K, 0, N, c.data, base, s.data, &e);
    Napi::Object r = sumsObject(env, e);
    r.Set("objective", entq_objective_value(kind, lambda, &e));
    return r;
}

// roundCodes(values: Float32Array, codeKind) -> Uint8Array: E4M3 or INT8 codes of the values.
Napi::Value roundCodes(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Held<float> v = hold<float>(info[0], "values", napi_float32_array);
    uint32_t kind = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 99;
    if (!entq_grid_kind_ok(kind)) throw Napi::RangeError::New(env, "codeKind must be E4M3 (0) or INT8 (1)");
    Napi::Uint8Array out = Napi::Uint8Array::New(env, v.length);
    for (size_t i = 0; i < v.length; i++) out[i] = kind == ENTQ_CODES_E4M3 ? entq_f32_to_e4m3(v.data[i]) : entq_f32_to_int8(v.data[i]);
    return out;
}

}  // namespace

void registerQuant(Napi::Env env, Napi::Object exports) {
    exports.Set("quantize", Napi::Function::New(env, quantize, "quantize"));
    exports.Set("quantRateCurve", Napi::Function::New(env, quantRateCurve, "quantRateCurve"));
    exports.Set("quantObjective", Napi::Function::New(env, quantObjective, "quantObjective"));
    exports.Set("roundCodes", Napi::Function::New(env, roundCodes, "roundCodes"));
}
