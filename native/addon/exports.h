// Each part of the addon registers its functions here; addon.cpp is the export table.
#pragma once
#include <napi.h>

void registerStream(Napi::Env env, Napi::Object exports);  // stream.cpp: encode/decode/validate ENTQ streams
void registerQuant(Napi::Env env, Napi::Object exports);   // quant.cpp: quantise tensors (entropy-optimised scales)
void registerLayout(Napi::Env env, Napi::Object exports);  // layout.cpp: the CPU layout a stream becomes at load
void registerSource(Napi::Env env, Napi::Object exports);  // source.cpp: source tensors' stored bytes as f32 weights
