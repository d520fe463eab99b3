// Addon part "layout": the CPU layout that the patched ggml-cpu builds at load
// (native/cpu/entq_repack.h), built here from a stream so that tests and
// tools can see what a coded tensor becomes on a CPU: its size, its code, and
// its decoded levels (both decoders, which must agree).
#include <memory>
#include <string>
#include <vector>

#include "cpu/entq_repack.h"
#include "exports.h"
#include "napiArgs.h"

namespace {

const char * repackStatusName(int st) {
    switch (st) {
    case ENTQ_REPACK_OK: return "ok";
    case ENTQ_REPACK_PAYLOAD: return "payload";
    case ENTQ_REPACK_LEVELS: return "levels";
    case ENTQ_REPACK_LARGER: return "larger";
    case ENTQ_REPACK_TOO_LARGE: return "too-large";
    default: return "?";
    }
}

class LayoutWorker : public Napi::AsyncWorker {
public:
    LayoutWorker(Napi::Env env, Held<uint8_t> stream, double maxGrowth, uint32_t threads, bool levels)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), stream_(std::move(stream)), maxGrowth_(maxGrowth),
          threads_(threads), wantLevels_(levels) {}
    Napi::Promise promise() { return deferred_.Promise(); }

protected:
    void Execute() override {
        const uint8_t * buf = stream_.data;
        parse_ = entq_parse(buf, stream_.length, &info_);
        if (parse_ == ENTQ_OK) parse_ = entq_check_crc(buf, stream_.length);
        if (parse_ != ENTQ_OK) return;
        const int threads = threads_ ? (int) threads_ : (int) std::max(1u, std::thread::hardware_concurrency());
        r_ = entq_repack(&info_, buf, threads, maxGrowth_);
        if (r_.status != ENTQ_REPACK_OK || !wantLevels_) return;
        const entq_layout * L = (const entq_layout *) r_.data.get();
        std::vector<uint64_t> tab(1u << ENTQ_LAYOUT_TABLE_BITS);
        entq_layout_build_table(L, tab.data());
        const size_t stride = (size_t) L->rows_per_stream * L->K + ENTQ_LAYOUT_OVERRUN;
        std::vector<int8_t> group(ENTQ_LAYOUT_STREAMS * stride), one(stride);
        levels_ = new std::vector<uint8_t>((size_t) L->K * L->N);
        for (uint32_t g = 0; g < L->n_groups; g++) {
            entq_layout_decode_group(L, tab.data(), g, group.data(), stride);
            for (uint32_t s = 0; s < ENTQ_LAYOUT_STREAMS; s++) {
                entq_layout_decode_stream(L, tab.data(), g, s, one.data());
                const size_t n = (size_t) entq_layout_stream_rows(L, g, s) * L->K;
                agree_ = agree_ && std::equal(one.begin(), one.begin() + n, group.begin() + s * stride);
                for (uint32_t j = 0; j < entq_layout_stream_rows(L, g, s); j++) {
                    const size_t row = ((size_t) g * L->rows_per_stream + j) * ENTQ_LAYOUT_STREAMS + s;
                    memcpy(levels_->data() + row * L->K, group.data() + s * stride + (size_t) j * L->K, L->K);
                }
            }
        }
    }
    void OnOK() override {
        Napi::Env env = Env();
        if (parse_ != ENTQ_OK) {
            deferred_.Reject(Napi::Error::New(env, std::string("cpuLayout: ") + entq_status_str(parse_)).Value());
            return;
        }
        Napi::Object o = Napi::Object::New(env);
        o.Set("status", repackStatusName(r_.status));
        o.Set("streamBytes", (double) stream_.length);
        if (r_.status == ENTQ_REPACK_PAYLOAD) o.Set("segment", r_.seg);
        if (r_.layout_bytes) o.Set("layoutBytes", (double) r_.layout_bytes);
        if (r_.status == ENTQ_REPACK_OK) {
            const entq_layout * L = (const entq_layout *) r_.data.get();
            o.Set("pairCode", L->pair_code != 0);
            o.Set("codes", L->n_codes);
            o.Set("rowsPerStream", L->rows_per_stream);
            o.Set("groups", L->n_groups);
            o.Set("unit", L->unit);
        }
        if (levels_) {
            const size_t n = levels_->size();
            std::vector<uint8_t> * v = levels_;
            levels_ = nullptr;
            Napi::Buffer<uint8_t> b =
                Napi::Buffer<uint8_t>::New(env, v->data(), n, [](Napi::Env, uint8_t *, std::vector<uint8_t> * p) { delete p; }, v);
            o.Set("levels", Napi::TypedArrayOf<int8_t>::New(env, n, b.ArrayBuffer(), b.ByteOffset(), napi_int8_array));
            o.Set("decodersAgree", agree_);
        }
        deferred_.Resolve(o);
    }
    void OnError(const Napi::Error & e) override { deferred_.Reject(e.Value()); }
    ~LayoutWorker() override { delete levels_; }

private:
    Napi::Promise::Deferred deferred_;
    Held<uint8_t> stream_;
    double maxGrowth_;
    uint32_t threads_;
    bool wantLevels_;
    entq_info info_{};
    int parse_ = ENTQ_OK;
    entq_repack_result r_;
    std::vector<uint8_t> * levels_ = nullptr;
    bool agree_ = true;
};

// cpuLayout(stream, { maxGrowth = 1.05, threads = 0 (all cores), levels = false })
Napi::Value cpuLayout(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    Held<uint8_t> stream = hold<uint8_t>(info[0], "stream", napi_uint8_array);
    double maxGrowth = 1.05;
    uint32_t threads = 0;
    bool levels = false;
    if (info.Length() > 1 && info[1].IsObject()) {
        Napi::Object o = info[1].As<Napi::Object>();
        maxGrowth = numberOpt(o, "maxGrowth", maxGrowth);
        threads = u32Opt(o, "threads", 0);
        if (!o.Get("levels").IsUndefined()) levels = o.Get("levels").ToBoolean();
    }
    auto * w = new LayoutWorker(env, std::move(stream), maxGrowth, threads, levels);
    Napi::Promise pr = w->promise();
    w->Queue();
    return pr;
}

}  // namespace

void registerLayout(Napi::Env env, Napi::Object exports) { exports.Set("cpuLayout", Napi::Function::New(env, cpuLayout, "cpuLayout")); }
