// What every harness in native/fuzz shares: a check that stops the fuzzer
// with a message (abort() is what libFuzzer reports as a crash), and the
// bound on work per input.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "stream/entq_format.h"

#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                      \
        }                                                                                      \
    } while (0)

// A decoder's work is K x N symbols whatever the stream's size: a one-symbol
// table codes any number of symbols in zero payload bits, so a 200-byte
// stream may legally describe 2^64 of them. Loaders bound it by the tensor
// shape the model asks for (entq_parse_shape); the harnesses bound it here,
// or one mutated N would turn every run into minutes of decoding.
#define FUZZ_MAX_SYMBOLS (1u << 14)

static inline bool fuzz_small_enough(const entq_info *in) { return (uint64_t)in->K * in->N <= FUZZ_MAX_SYMBOLS; }

// The input in an allocation of its own (ASan then flags any read past its end), parsed: false when the
// stream is refused or too large to decode here.
static inline bool fuzz_parse_copy(const uint8_t *data, size_t size, std::unique_ptr<uint8_t[]> &buf, entq_info *in) {
    buf.reset(new uint8_t[size ? size : 1]);
    if (size) std::memcpy(buf.get(), data, size);
    return entq_parse(buf.get(), size, in) == ENTQ_OK && fuzz_small_enough(in);
}
