// Addon part "stream": encode, decode, dequantize and validate ENTQ streams.
// Every call returns a Promise and runs in a Napi::AsyncWorker; inside it,
// segments are spread over threads (they are independently coded).
#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "exports.h"
#include "napiArgs.h"
#include "stream/entq_decode.h"
#include "stream/entq_encode.h"

namespace {

// Runs fn(seg) for seg in [0, n) on up to `threads` threads (0 = all cores).
template <typename Fn>
void forEachSegment(uint32_t n, uint32_t threads, Fn fn) {
    uint32_t hw = std::max(1u, std::thread::hardware_concurrency());
    uint32_t t = std::min(n, threads ? threads : hw);
    if (t <= 1) {
        for (uint32_t s = 0; s < n; s++) fn(s);
        return;
    }
    std::atomic<uint32_t> next{0};
    std::vector<std::thread> pool;
    for (uint32_t i = 0; i < t; i++)
        pool.emplace_back([&] {
            for (uint32_t s; (s = next.fetch_add(1)) < n;) fn(s);
        });
    for (auto &th : pool) th.join();
}

const char *statusName(int st) {
    switch (st) {
    case ENTQ_OK: return "OK";
    case ENTQ_ERR_TRUNCATED: return "TRUNCATED";
    case ENTQ_ERR_MAGIC: return "MAGIC";
    case ENTQ_ERR_VERSION: return "VERSION";
    case ENTQ_ERR_HEADER: return "HEADER";
    case ENTQ_ERR_SHAPE: return "SHAPE";
    case ENTQ_ERR_CODEBOOK: return "CODEBOOK";
    case ENTQ_ERR_SCALES: return "SCALES";
    case ENTQ_ERR_TABLE: return "TABLE";
    case ENTQ_ERR_INDEX: return "INDEX";
    case ENTQ_ERR_SIZE: return "SIZE";
    case ENTQ_ERR_PAYLOAD: return "PAYLOAD";
    case ENTQ_ERR_EMPTY: return "EMPTY";
    case ENTQ_ERR_ARG: return "ARG";
    case ENTQ_ERR_TOO_LARGE: return "TOO_LARGE";
    case ENTQ_ERR_CHECKSUM: return "CHECKSUM";
    default: return "UNKNOWN";
    }
}

// Errors cross the boundary as Error objects with .code = "ENTQ_<NAME>" and
// .status; src/stream/EntqStreamError.ts turns them into EntqStreamError.
Napi::Error statusError(Napi::Env env, int st, const std::string &context) {
    Napi::Error e = Napi::Error::New(env, context + ": " + entq_status_str(st));
    e.Set("code", Napi::String::New(env, std::string("ENTQ_") + statusName(st)));
    e.Set("status", Napi::Number::New(env, st));
    return e;
}

// A result buffer handed to JS without a copy.
Napi::Buffer<uint8_t> giveBuffer(Napi::Env env, std::vector<uint8_t> *v, size_t size) {
    return Napi::Buffer<uint8_t>::New(env, v->data(), size, [](Napi::Env, uint8_t *, std::vector<uint8_t> *p) { delete p; }, v);
}

Napi::Object infoObject(Napi::Env env, const entq_info &in, bool withTable = true) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("version", in.version);
    o.Set("codeKind", in.code_kind);
    o.Set("probBits", in.prob_bits);
    o.Set("K", in.K);
    o.Set("N", in.N);
    o.Set("rowsPerSegment", in.rows_per_seg);
    o.Set("segments", in.n_seg);
    o.Set("symbols", in.n_sym);
    o.Set("scaleBase", in.scale_base);
    o.Set("bytes", (double)in.size);
    o.Set("payloadBytes", in.payload_bytes);
    o.Set("experts", in.n_expert);
    if (!withTable) return o;
    Napi::Array freqs = Napi::Array::New(env, in.n_sym);
    for (uint32_t i = 0; i < in.n_sym; i++) {
        Napi::Object f = Napi::Object::New(env);
        f.Set("symbol", in.symbols[i]);
        f.Set("freq", in.freq[in.symbols[i]]);
        freqs.Set(i, f);
    }
    o.Set("frequencies", freqs);
    return o;
}

class EncodeWorker : public Napi::AsyncWorker {
public:
    EncodeWorker(Napi::Env env, Held<uint8_t> codes, Held<uint16_t> scales, Held<uint16_t> codebook, uint32_t K, uint32_t N,
                 entq_params p, uint32_t threads)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), codes_(std::move(codes)),
          scales_(std::move(scales)), codebook_(std::move(codebook)), K_(K), N_(N), p_(p), threads_(threads) {}
    Napi::Promise promise() { return deferred_.Promise(); }

protected:
    void Execute() override {
        p_.row_scales = scales_.data;
        p_.codebook = codebook_.data;
        status_ = entq_plan(K_, N_, codes_.data, &p_, &plan_);
        if (status_ != ENTQ_OK) return;
        // each segment is encoded into its own worst-case buffer, then packed
        std::vector<uint64_t> lens(plan_.n_seg);
        std::vector<std::vector<uint32_t>> segs(plan_.n_seg);
        forEachSegment(plan_.n_seg, threads_, [&](uint32_t s) {
            uint64_t r0 = (uint64_t)s * plan_.rows_per_seg;
            uint64_t rows = std::min<uint64_t>(plan_.rows_per_seg, N_ - r0);
            segs[s].resize((entq_segment_bound(rows * K_) + 3) / 4);
            uint8_t *out = reinterpret_cast<uint8_t *>(segs[s].data());
            lens[s] = entq_encode_segment(&plan_, codes_.data + r0 * K_, rows * K_, out);
            segs[s].resize(lens[s] / 4);  // keep only what was written
            segs[s].shrink_to_fit();
        });
        uint64_t payload = 0;
        for (uint64_t l : lens) payload += l;
        if (payload > UINT32_MAX) {
            status_ = ENTQ_ERR_TOO_LARGE;
            return;
        }
        size_ = plan_.head_bytes + payload;
        out_ = new std::vector<uint8_t>(size_);
        uint8_t *o = out_->data();
        entq_write_head(&plan_, o);
        uint64_t pos = 0;
        for (uint32_t s = 0; s < plan_.n_seg; s++) {
            std::memcpy(o + plan_.head_bytes + pos, segs[s].data(), lens[s]);
            pos += lens[s];
            entq_set_segment_end(&plan_, o, s, (uint32_t)pos);
            std::vector<uint32_t>().swap(segs[s]);
        }
        entq_finish(&plan_, o, (uint32_t)payload);
    }
    void OnOK() override {
        Napi::Env env = Env();
        if (status_ != ENTQ_OK) {
            delete out_;
            deferred_.Reject(statusError(env, status_, "encode").Value());
            return;
        }
        Napi::Object r = Napi::Object::New(env);
        r.Set("stream", giveBuffer(env, out_, size_));
        r.Set("probBits", plan_.prob_bits);
        r.Set("segments", plan_.n_seg);
        r.Set("headBytes", (double)plan_.head_bytes);
        r.Set("entropyBits", entq_entropy_bits(plan_.counts));
        deferred_.Resolve(r);
    }
    void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

private:
    Napi::Promise::Deferred deferred_;
    Held<uint8_t> codes_;
    Held<uint16_t> scales_, codebook_;
    uint32_t K_, N_;
    entq_params p_;
    uint32_t threads_;
    entq_plan_t plan_;
    int status_ = ENTQ_OK;
    std::vector<uint8_t> *out_ = nullptr;
    uint64_t size_ = 0;
};

// encode(codes: Uint8Array, K, N, {codeKind, scaleBase, rowScales: Uint16Array,
//        codebook?: Uint16Array, segmentSymbols?, probBits?, experts?, threads?}) -> Promise
Napi::Value encode(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 4 || !info[3].IsObject()) throw Napi::TypeError::New(env, "encode(codes, K, N, options)");
    uint32_t K = u32Arg(info[1], "K"), N = u32Arg(info[2], "N");
    Napi::Object o = info[3].As<Napi::Object>();
    Held<uint8_t> codes = hold<uint8_t>(info[0], "codes", napi_uint8_array);
    Held<uint16_t> scales = hold<uint16_t>(o.Get("rowScales"), "rowScales", napi_uint16_array);
    Held<uint16_t> codebook;
    if (!o.Get("codebook").IsUndefined()) {
        codebook = hold<uint16_t>(o.Get("codebook"), "codebook", napi_uint16_array);
        if (codebook.length != 256) throw Napi::RangeError::New(env, "codebook must hold 256 f16 values");
    }
    if ((uint64_t)K * N != codes.length)
        throw Napi::RangeError::New(env, "codes holds " + std::to_string(codes.length) + " values, K x N = " +
                                             std::to_string((uint64_t)K * N));
    if (scales.length != N) throw Napi::RangeError::New(env, "rowScales must hold N values");
    entq_params p{};
    p.code_kind = u32Arg(o.Get("codeKind"), "codeKind");
    if (!o.Get("scaleBase").IsNumber()) throw Napi::TypeError::New(env, "scaleBase must be a number");
    p.scale_base = o.Get("scaleBase").As<Napi::Number>().FloatValue();
    p.segment_symbols = u32Opt(o, "segmentSymbols", 0);
    p.prob_bits = u32Opt(o, "probBits", 0);
    p.n_expert = u32Opt(o, "experts", 0);
    uint32_t threads = u32Opt(o, "threads", 0);
    auto *w = new EncodeWorker(env, std::move(codes), std::move(scales), std::move(codebook), K, N, p, threads);
    Napi::Promise pr = w->promise();
    w->Queue();
    return pr;
}

// What a decoding call produces.
enum class DecodeMode { Codes, Dequantize, Validate, Histogram };

class DecodeWorker : public Napi::AsyncWorker {
public:
    DecodeWorker(Napi::Env env, Held<uint8_t> stream, DecodeMode mode, bool deep, int64_t wantK, int64_t wantN, uint32_t threads)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), stream_(std::move(stream)), mode_(mode),
          deep_(deep), wantK_(wantK), wantN_(wantN), threads_(threads) {}
    Napi::Promise promise() { return deferred_.Promise(); }

protected:
    void Execute() override {
        const uint8_t *buf = stream_.data;
        status_ = entq_parse(buf, stream_.length, &info_);
        if (status_ == ENTQ_OK && ((wantK_ >= 0 && info_.K != wantK_) || (wantN_ >= 0 && info_.N != wantN_)))
            status_ = ENTQ_ERR_SHAPE;
        if (status_ != ENTQ_OK) return;
        if (mode_ == DecodeMode::Validate && !deep_) return;
        status_ = entq_check_crc(buf, stream_.length);
        if (status_ != ENTQ_OK) return;
        auto table = std::make_unique<entq_dtable>();
        entq_build_dtable(&info_, buf, table.get());
        uint64_t n = (uint64_t)info_.K * info_.N;
        size_t elem = mode_ == DecodeMode::Dequantize ? 4 : 1;
        bool keep = mode_ == DecodeMode::Codes || mode_ == DecodeMode::Dequantize;
        if (keep) out_ = new std::vector<uint8_t>(n * elem);
        std::vector<int> st(info_.n_seg, ENTQ_OK);
        std::vector<std::array<uint64_t, 256>> counts(mode_ == DecodeMode::Histogram ? info_.n_seg : 0);
        forEachSegment(info_.n_seg, threads_, [&](uint32_t s) {
            std::vector<uint8_t> row(info_.K);
            uint64_t first = (uint64_t)s * info_.rows_per_seg * info_.K;
            if (mode_ == DecodeMode::Codes)
                st[s] = entq_decode_codes(&info_, buf, table.get(), s, s + 1, out_->data() + first);
            else if (mode_ == DecodeMode::Dequantize)
                st[s] = entq_decode_dequantize(&info_, buf, table.get(), s, s + 1,
                                               reinterpret_cast<float *>(out_->data()) + first, row.data());
            else {
                entq_decoder d;
                entq_dec_init(&info_, buf, s, &d);
                if (!counts.empty()) counts[s].fill(0);
                for (uint32_t r = 0; r < entq_segment_rows(&info_, s); r++) {
                    entq_dec_run(table.get(), &d, info_.K, row.data());
                    if (!counts.empty())
                        for (uint8_t c : row) counts[s][c]++;
                }
                st[s] = entq_dec_finish(&d);
            }
        });
        for (auto &c : counts)
            for (int i = 0; i < 256; i++) histogram_[i] += c[i];
        for (uint32_t s = 0; s < info_.n_seg; s++)
            if (st[s] != ENTQ_OK) {
                status_ = st[s];
                failedSegment_ = (int64_t)s;
                break;
            }
        size_ = n * elem;
    }
    void OnOK() override {
        Napi::Env env = Env();
        if (mode_ == DecodeMode::Histogram && status_ == ENTQ_OK) {
            Napi::Object r = Napi::Object::New(env);
            Napi::Float64Array h = Napi::Float64Array::New(env, 256);
            for (int i = 0; i < 256; i++) h[i] = (double)histogram_[i];
            r.Set("counts", h);
            r.Set("entropyBits", entq_entropy_bits(histogram_));
            r.Set("info", infoObject(env, info_));
            deferred_.Resolve(r);
            return;
        }
        if (mode_ == DecodeMode::Validate) {
            Napi::Object r = Napi::Object::New(env);
            r.Set("ok", status_ == ENTQ_OK);
            r.Set("code", std::string("ENTQ_") + statusName(status_));
            r.Set("message", entq_status_str(status_));
            if (failedSegment_ >= 0) r.Set("segment", (double)failedSegment_);
            if (status_ == ENTQ_OK || status_ == ENTQ_ERR_SHAPE || status_ == ENTQ_ERR_CHECKSUM || status_ == ENTQ_ERR_PAYLOAD)
                r.Set("info", infoObject(env, info_));
            deferred_.Resolve(r);
            return;
        }
        if (status_ != ENTQ_OK) {
            delete out_;
            std::string ctx = failedSegment_ >= 0 ? "decode (segment " + std::to_string(failedSegment_) + ")" : "decode";
            deferred_.Reject(statusError(env, status_, ctx).Value());
            return;
        }
        Napi::Object r = Napi::Object::New(env);
        Napi::Buffer<uint8_t> b = giveBuffer(env, out_, size_);
        if (mode_ == DecodeMode::Dequantize)
            r.Set("values", Napi::Float32Array::New(env, size_ / 4, b.ArrayBuffer(), b.ByteOffset()));
        else
            r.Set("codes", b);
        r.Set("info", infoObject(env, info_));
        deferred_.Resolve(r);
    }
    void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

private:
    Napi::Promise::Deferred deferred_;
    Held<uint8_t> stream_;
    DecodeMode mode_;
    bool deep_;
    int64_t wantK_, wantN_;
    uint32_t threads_;
    entq_info info_{};
    int status_ = ENTQ_OK;
    int64_t failedSegment_ = -1;
    std::vector<uint8_t> *out_ = nullptr;
    uint64_t size_ = 0;
    uint64_t histogram_[256] = {0};
};

Napi::Value startDecode(const Napi::CallbackInfo &info, DecodeMode mode) {
    Napi::Env env = info.Env();
    Held<uint8_t> stream = hold<uint8_t>(info[0], "stream", napi_uint8_array);
    bool deep = true;
    int64_t K = -1, N = -1;
    uint32_t threads = 0;
    if (info.Length() > 1 && info[1].IsObject()) {
        Napi::Object o = info[1].As<Napi::Object>();
        if (o.Has("deep") && !o.Get("deep").IsUndefined()) deep = o.Get("deep").ToBoolean();
        if (!o.Get("K").IsUndefined()) K = u32Arg(o.Get("K"), "K");
        if (!o.Get("N").IsUndefined()) N = u32Arg(o.Get("N"), "N");
        threads = u32Opt(o, "threads", 0);
    }
    auto *w = new DecodeWorker(env, std::move(stream), mode, deep, K, N, threads);
    Napi::Promise pr = w->promise();
    w->Queue();
    return pr;
}

Napi::Value decode(const Napi::CallbackInfo &info) { return startDecode(info, DecodeMode::Codes); }
Napi::Value dequantize(const Napi::CallbackInfo &info) { return startDecode(info, DecodeMode::Dequantize); }
Napi::Value validate(const Napi::CallbackInfo &info) { return startDecode(info, DecodeMode::Validate); }
Napi::Value histogram(const Napi::CallbackInfo &info) { return startDecode(info, DecodeMode::Histogram); }

// streamInfo(stream) -> header and table, synchronously (parse only: cheap).
Napi::Value streamInfo(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Held<uint8_t> s = hold<uint8_t>(info[0], "stream", napi_uint8_array);
    entq_info in;
    int st = entq_parse(s.data, s.length, &in);
    if (st != ENTQ_OK) throw statusError(env, st, "streamInfo");
    Napi::Object o = infoObject(env, in);
    if (in.n_expert) {  // each expert's own bytes: its segments, their index entries and its row scales
        const uint8_t *buf = s.data;
        Napi::Array eb = Napi::Array::New(env, in.n_expert);
        const uint32_t per = in.n_seg / in.n_expert;
        for (uint32_t e = 0; e < in.n_expert; e++) {
            const uint32_t s0 = e * per, s1 = s0 + per;
            const uint32_t begin = s0 ? entq_rd32(buf + in.index_off + 4 * (uint64_t)(s0 - 1)) : 0;
            const uint32_t end = entq_rd32(buf + in.index_off + 4 * (uint64_t)(s1 - 1));
            eb.Set(e, (double)(end - begin) + 4.0 * per + 2.0 * (in.N / in.n_expert));
        }
        o.Set("expertBytes", eb);
    }
    return o;
}

// streamHeader(firstBytes) -> the fixed header's fields (version, shape, ...)
// from a stream's first 36 bytes, without the rest of the stream.
Napi::Value streamHeader(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    Held<uint8_t> s = hold<uint8_t>(info[0], "stream", napi_uint8_array);
    entq_info in;
    int st = entq_parse_fixed(s.data, s.length, &in);
    if (st != ENTQ_OK) throw statusError(env, st, "streamHeader");
    Napi::Object o = infoObject(env, in, false);
    o.Delete("bytes");
    return o;
}

}  // namespace

void registerStream(Napi::Env env, Napi::Object exports) {
    exports.Set("encode", Napi::Function::New(env, encode, "encode"));
    exports.Set("decode", Napi::Function::New(env, decode, "decode"));
    exports.Set("dequantize", Napi::Function::New(env, dequantize, "dequantize"));
    exports.Set("validate", Napi::Function::New(env, validate, "validate"));
    exports.Set("histogram", Napi::Function::New(env, histogram, "histogram"));
    exports.Set("streamInfo", Napi::Function::New(env, streamInfo, "streamInfo"));
    exports.Set("streamHeader", Napi::Function::New(env, streamHeader, "streamHeader"));
    exports.Set("fixedHeaderBytes", Napi::Number::New(env, ENTQ_FIXED_HEADER_BYTES));
    exports.Set("formatVersion", Napi::Number::New(env, ENTQ_VERSION));
}
