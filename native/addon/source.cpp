// Addon part "source": a source tensor's stored bytes as f32 weights
// (native/convert/entq_source_weights.h), for src/convert/readWeights.ts.
#include <string>

#include "convert/entq_source_weights.h"
#include "exports.h"
#include "napiArgs.h"

namespace {

// sourceToF32InPlace(type, data: Float32Array, n) -> n: data[0, n) becomes the f32 values of a
// tensor of n elements whose stored bytes fill the end of data[0, n) (native/convert/entq_source_weights.h).
// Synchronous: memory speed.
Napi::Value sourceToF32InPlace(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3) throw Napi::TypeError::New(env, "sourceToF32InPlace(type, data, n)");
    const uint32_t type = u32Arg(info[0], "type");
    if (!entq_source_unit_bytes(type)) throw Napi::RangeError::New(env, "type " + std::to_string(type) + " is not F32, F16, BF16 or Q8_0");
    Held<float> data = hold<float>(info[1], "data", napi_float32_array);
    const uint32_t n = u32Arg(info[2], "n");
    if (n > data.length) throw Napi::RangeError::New(env, "n is past the end of data");
    if (n % entq_source_unit_elements(type)) throw Napi::RangeError::New(env, "n is not a whole number of Q8_0 blocks");
    entq_source_to_f32_in_place(type, const_cast<float *>(data.data), n);
    return Napi::Number::New(env, n);
}

}  // namespace

void registerSource(Napi::Env env, Napi::Object exports) {
    exports.Set("sourceToF32InPlace", Napi::Function::New(env, sourceToF32InPlace, "sourceToF32InPlace"));
}
