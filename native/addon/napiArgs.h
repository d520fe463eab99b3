// Argument helpers shared by the addon's parts: typed arrays held for a
// worker's lifetime, and checked numeric options.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

// A typed array kept alive (and its elements addressable) while a worker runs.
template <typename T>
struct Held {
    Napi::ObjectReference ref;
    const T *data = nullptr;
    size_t length = 0;  // elements
};

template <typename T>
Held<T> hold(const Napi::Value &v, const char *name, napi_typedarray_type want) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
        throw Napi::TypeError::New(v.Env(), std::string(name) + " has the wrong array type");
    Napi::TypedArray a = v.As<Napi::TypedArray>();
    Held<T> h;
    h.ref = Napi::Persistent(a.As<Napi::Object>());
    h.data = reinterpret_cast<const T *>(static_cast<const uint8_t *>(a.ArrayBuffer().Data()) + a.ByteOffset());
    h.length = a.ElementLength();
    return h;
}

inline uint32_t u32Arg(const Napi::Value &v, const char *name, uint32_t min = 0) {
    if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(name) + " must be a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= min && d <= 4294967295.0) || d != (double)(uint32_t)d)
        throw Napi::RangeError::New(v.Env(), std::string(name) + " must be an integer in [" + std::to_string(min) + ", 2^32)");
    return (uint32_t)d;
}

// An optional member of an options object: dflt when absent.
inline double numberOpt(const Napi::Object &o, const char *name, double dflt) {
    Napi::Value v = o.Get(name);
    if (v.IsUndefined()) return dflt;
    if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string(name) + " must be a number");
    return v.As<Napi::Number>().DoubleValue();
}

inline uint32_t u32Opt(const Napi::Object &o, const char *name, uint32_t dflt) {
    Napi::Value v = o.Get(name);
    return v.IsUndefined() ? dflt : u32Arg(v, name);
}
