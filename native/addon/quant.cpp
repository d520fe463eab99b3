// Addon part "quant": quantise a tensor (native/quant/entq_quantize.h) in a
// Napi::AsyncWorker; inside it the rows are spread over threads. Errors cross
// the boundary with .code = "ENTQ_QUANT_<NAME>"; src/quant/ turns them into
// typed errors.
#include <cstring>
#include <string>
#include <vector>

#include "exports.h"
#include "napiArgs.h"
#include "quant/entq_rate_sample.h"

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
    QuantizeWorker(Napi::Env env, Held<float> w, uint32_t N, uint32_t K, entq_quant_opts o, Held<uint8_t> out)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), w_(std::move(w)), N_(N), K_(K), o_(o), out_(std::move(out)) {}
    Napi::Promise promise() { return deferred_.Promise(); }

protected:
    void Execute() override {
        uint8_t *codes = const_cast<uint8_t *>(out_.data);
        if (!codes) {
            codes_ = new std::vector<uint8_t>((size_t)N_ * K_);
            codes = codes_->data();
        }
        scales_.assign(N_, 0);
        status_ = entq_quantize_tensor(w_.data, N_, K_, o_, codes, scales_.data(), rep_, error_);
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
        if (c) r.Set("codes", Napi::Buffer<uint8_t>::New(env, c->data(), c->size(), [](Napi::Env, uint8_t *, std::vector<uint8_t> *p) { delete p; }, c));
        else r.Set("codes", out_.ref.Value());
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
    Held<uint8_t> out_; /* the caller's codes buffer, or none: then codes_ */
    std::vector<uint8_t> *codes_ = nullptr;
    std::vector<uint16_t> scales_;
    entq_quant_report rep_;
    int status_ = ENTQ_QUANT_OK;
    std::string error_;
};

// Options shared by quantize and quantRateSample.
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
//   ecqIters, ecqInitLambda, fallbackGap, threads, segmentSymbols, exhaustive}, codesOut?: Uint8Array) -> Promise:
// with codesOut (>= N K bytes) the codes go there (result.codes is codesOut), else into a new Buffer
Napi::Value quantize(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[3].IsObject()) throw Napi::TypeError::New(env, "quantize(weights, N, K, options)");
    Held<float> w = hold<float>(info[0], "weights", napi_float32_array);
    uint32_t N = u32Arg(info[1], "N", 1), K = u32Arg(info[2], "K", 1);
    if ((uint64_t)N * K != w.length)
        throw Napi::RangeError::New(env, "weights holds " + std::to_string(w.length) + " values, N x K = " + std::to_string((uint64_t)N * K));
    entq_quant_opts q = quantOptions(info[3].As<Napi::Object>());
    Held<uint8_t> out;
    if (info.Length() > 4 && !info[4].IsUndefined()) {
        out = hold<uint8_t>(info[4], "codesOut", napi_uint8_array);
        if (out.length < (uint64_t)N * K) throw Napi::RangeError::New(env, "codesOut holds fewer than N x K bytes");
    }
    auto *wk = new QuantizeWorker(env, std::move(w), N, K, q, std::move(out));
    Napi::Promise p = wk->promise();
    wk->Queue();
    return p;
}

// A tensor's rate sample lives in native memory behind an External, tagged
// so that no other External passes for one.
constexpr napi_type_tag kRateSampleTag = {0x6f1c2a7e5b3d4c19ULL, 0x8e2f47a1d0b9c356ULL};

class RateSampleWorker : public Napi::AsyncWorker {
public:
    RateSampleWorker(Napi::Env env, Held<float> w, uint32_t N, uint32_t K, uint32_t rows, entq_quant_opts o, double lambda_scale)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), w_(std::move(w)), N_(N), K_(K), rows_(rows), o_(o),
          lambda_scale_(lambda_scale) {}
    Napi::Promise promise() { return deferred_.Promise(); }

protected:
    void Execute() override {
        sample_ = new entq_rate_sample();
        status_ = entq_rate_sample_make(w_.data, N_, K_, o_, rows_, *sample_, error_);
        sample_->lambda_scale = lambda_scale_;
    }
    void OnOK() override {
        Napi::Env env = Env();
        if (status_ != ENTQ_QUANT_OK) {
            delete sample_;
            Napi::Error e = Napi::Error::New(env, error_);
            e.Set("code", Napi::String::New(env, std::string("ENTQ_QUANT_") + quantStatusName(status_)));
            deferred_.Reject(e.Value());
            return;
        }
        const int64_t bytes = (int64_t)(sample_->rows.size() * sizeof(float));
        Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
        auto handle = Napi::External<entq_rate_sample>::New(env, sample_, [bytes](Napi::Env e, entq_rate_sample *p) {
            Napi::MemoryManagement::AdjustExternalMemory(e, -bytes);
            delete p;
        });
        handle.TypeTag(&kRateSampleTag);
        Napi::Object r = Napi::Object::New(env);
        r.Set("handle", handle);
        r.Set("sampleRows", sample_->n_rows);
        r.Set("fellBack", sample_->fell_back);
        r.Set("outlierGap", sample_->outlier_gap);
        deferred_.Resolve(r);
    }
    void OnError(const Napi::Error &e) override {
        delete sample_;
        deferred_.Reject(e.Value());
    }

private:
    Napi::Promise::Deferred deferred_;
    Held<float> w_;
    uint32_t N_, K_, rows_;
    entq_quant_opts o_;
    double lambda_scale_;
    entq_rate_sample *sample_ = nullptr;
    int status_ = ENTQ_QUANT_OK;
    std::string error_;
};

// quantRateSample(weights: Float32Array, N, K, sampleRows, options as quantize (L1) + lambdaScale)
//   -> Promise<{handle, sampleRows, fellBack, outlierGap}>
Napi::Value quantRateSample(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[4].IsObject()) throw Napi::TypeError::New(env, "quantRateSample(weights, N, K, sampleRows, options)");
    Held<float> w = hold<float>(info[0], "weights", napi_float32_array);
    uint32_t N = u32Arg(info[1], "N", 1), K = u32Arg(info[2], "K", 1), rows = u32Arg(info[3], "sampleRows", 1);
    if ((uint64_t)N * K != w.length)
        throw Napi::RangeError::New(env, "weights holds " + std::to_string(w.length) + " values, N x K = " + std::to_string((uint64_t)N * K));
    const double lambda_scale = numberOpt(info[4].As<Napi::Object>(), "lambdaScale", 1);
    if (!(lambda_scale > 0) || !std::isfinite(lambda_scale)) throw Napi::RangeError::New(env, "lambdaScale must be a finite number > 0");
    auto *wk = new RateSampleWorker(env, std::move(w), N, K, rows, quantOptions(info[4].As<Napi::Object>()), lambda_scale);
    Napi::Promise p = wk->promise();
    wk->Queue();
    return p;
}

class ModelLambdaWorker : public Napi::AsyncProgressQueueWorker<double> {
public:
    ModelLambdaWorker(Napi::Env env, Napi::Function onEval, std::vector<Napi::ObjectReference> refs, std::vector<const entq_rate_sample *> samples,
                      double target, double tol, uint32_t threads, double guess)
        : Napi::AsyncProgressQueueWorker<double>(env), deferred_(Napi::Promise::Deferred::New(env)), refs_(std::move(refs)),
          samples_(std::move(samples)), target_(target), tol_(tol), guess_(guess), threads_(threads) {
        if (!onEval.IsEmpty()) onEval_ = Napi::Persistent(onEval);
    }
    Napi::Promise promise() { return deferred_.Promise(); }

protected:
    void Execute(const ExecutionProgress &progress) override {
        res_ = entq_model_lambda(samples_.data(), (uint32_t)samples_.size(), target_, tol_, threads_, [&](double lambda, double bits) {
            const double m[2] = {lambda, bits};
            progress.Send(m, 2);
        }, guess_);
    }
    void OnProgress(const double *m, size_t n) override {
        if (n == 2 && !onEval_.IsEmpty()) onEval_.Call({Napi::Number::New(Env(), m[0]), Napi::Number::New(Env(), m[1])});
    }
    void OnOK() override {
        Napi::Env env = Env();
        const entq_lambda_result &s = res_.search;
        if (s.status >= ENTQ_LAMBDA_TOO_HIGH) {
            const bool high = s.status == ENTQ_LAMBDA_TOO_HIGH;
            char buf[256];
            snprintf(buf, sizeof buf, high ? "target %.3f bits/weight is above what these tensors reach (%.3f at the smallest lambda, %g)"
                                           : "target %.3f bits/weight is below what these tensors reach (%.3f at the largest lambda, %g: scales and headers alone cost that much)",
                     target_, high ? s.bits_min : s.bits_max, high ? ENTQ_L1_LAMBDA_MIN : ENTQ_L1_LAMBDA_MAX);
            Napi::Error e = Napi::Error::New(env, buf);
            e.Set("code", Napi::String::New(env, "ENTQ_QUANT_TARGET"));
            deferred_.Reject(e.Value());
            return;
        }
        Napi::Object r = Napi::Object::New(env);
        r.Set("lambda", s.lambda);
        r.Set("bits", s.bits);
        r.Set("evaluations", s.evals);
        r.Set("withinTolerance", s.status == ENTQ_LAMBDA_OK);
        Napi::Float64Array b = Napi::Float64Array::New(env, res_.tensor_bits.size());
        if (!res_.tensor_bits.empty()) std::memcpy(b.Data(), res_.tensor_bits.data(), res_.tensor_bits.size() * sizeof(double));
        r.Set("tensorBits", b);
        deferred_.Resolve(r);
    }
    void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

private:
    Napi::Promise::Deferred deferred_;
    Napi::FunctionReference onEval_;
    std::vector<Napi::ObjectReference> refs_; /* the samples stay alive while the worker runs */
    std::vector<const entq_rate_sample *> samples_;
    double target_, tol_, guess_;
    uint32_t threads_;
    entq_model_lambda_result res_;
};

// quantModelLambda(handles: External[], targetBits, {tolerance, threads, guess, onEvaluation(lambda, bits)})
//   -> Promise<{lambda, bits, evaluations, withinTolerance, tensorBits: Float64Array}>
Napi::Value quantModelLambda(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsArray() || !info[1].IsNumber() || !info[2].IsObject())
        throw Napi::TypeError::New(env, "quantModelLambda(handles, targetBits, options)");
    Napi::Array a = info[0].As<Napi::Array>();
    if (a.Length() == 0) throw Napi::RangeError::New(env, "no rate samples given");
    std::vector<Napi::ObjectReference> refs;
    std::vector<const entq_rate_sample *> samples;
    for (uint32_t i = 0; i < a.Length(); i++) {
        Napi::Value v = a.Get(i);
        if (!v.IsExternal() || !v.As<Napi::External<entq_rate_sample>>().CheckTypeTag(&kRateSampleTag))
            throw Napi::TypeError::New(env, "handles[" + std::to_string(i) + "] is not a rate sample");
        samples.push_back(v.As<Napi::External<entq_rate_sample>>().Data());
        refs.push_back(Napi::Persistent(v.As<Napi::Object>()));
    }
    const double target = info[1].As<Napi::Number>().DoubleValue();
    if (!(target > 0) || !std::isfinite(target)) throw Napi::RangeError::New(env, "targetBits must be a finite number > 0");
    Napi::Object o = info[2].As<Napi::Object>();
    const double tol = numberOpt(o, "tolerance", 0.002);
    if (!(tol > 0) || !std::isfinite(tol)) throw Napi::RangeError::New(env, "tolerance must be a finite number > 0");
    const double guess = numberOpt(o, "guess", 0);
    if (!(guess >= 0) || !std::isfinite(guess)) throw Napi::RangeError::New(env, "guess must be a finite number >= 0");
    Napi::Value cb = o.Get("onEvaluation");
    if (!cb.IsUndefined() && !cb.IsFunction()) throw Napi::TypeError::New(env, "onEvaluation must be a function");
    auto *wk = new ModelLambdaWorker(env, cb.IsFunction() ? cb.As<Napi::Function>() : Napi::Function(), std::move(refs), std::move(samples),
                                     target, tol, u32Opt(o, "threads", 0), guess);
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
    exports.Set("quantRateSample", Napi::Function::New(env, quantRateSample, "quantRateSample"));
    exports.Set("quantModelLambda", Napi::Function::New(env, quantModelLambda, "quantModelLambda"));
    exports.Set("quantObjective", Napi::Function::New(env, quantObjective, "quantObjective"));
    exports.Set("roundCodes", Napi::Function::New(env, roundCodes, "roundCodes"));
}
