// A minimal test registry for the native unit tests: TEST(name) { CHECK(...); }
// All native/test/*.cpp files link into one executable, build/entgguf_native_tests,
// which test/native/nativeTests.test.ts runs from `npm test`.
#pragma once
#include <cstdio>
#include <cstdint>
#include <vector>

namespace entq_test {

struct Case {
    const char *name;
    void (*fn)();
};

inline std::vector<Case> &registry() {
    static std::vector<Case> cases;
    return cases;
}

inline int &failures() {
    static int n = 0;
    return n;
}

struct Register {
    Register(const char *name, void (*fn)()) { registry().push_back({name, fn}); }
};

// SplitMix64: seeded, identical on every platform.
struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    double uniform() { return ((next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }  // (0, 1)
    uint32_t below(uint32_t n) { return (uint32_t)(uniform() * n); }
};

}  // namespace entq_test

#define TEST(name)                                                     \
    static void name();                                                \
    static entq_test::Register name##_reg_(#name, name);               \
    static void name()

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "  CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            entq_test::failures()++;                                                 \
            return;                                                                  \
        }                                                                            \
    } while (0)

// CHECK with a printf-style note shown on failure.
#define CHECKF(cond, ...)                                                            \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "  CHECK failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            std::fprintf(stderr, __VA_ARGS__);                                       \
            std::fprintf(stderr, "\n");                                              \
            entq_test::failures()++;                                                 \
            return;                                                                  \
        }                                                                            \
    } while (0)
