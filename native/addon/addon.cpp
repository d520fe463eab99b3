// The addon's export table: one line per part (see exports.h).
#include "exports.h"

static Napi::Object init(Napi::Env env, Napi::Object exports) {
    registerStream(env, exports);
    registerQuant(env, exports);
    registerLayout(env, exports);
    registerSource(env, exports);
    return exports;
}

NODE_API_MODULE(entgguf_native, init)
