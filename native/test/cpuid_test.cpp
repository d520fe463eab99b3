// native/cpu/entq_cpuid.h: the CPUID checks that replaced __builtin_cpu_supports
// names Clang refuses ("abm", "avxvnni") must say what GCC's builtins say.
#include "cpu/entq_decode_avx2.h"
#include "test.h"

#if ENTQ_AVX2_DECODER
#include "cpu/entq_cpuid.h"
#include "cpu/entq_cpu_layout.h"
#include "cpu/entq_layout_dot.h"

TEST(cpuid_bits_agree_with_compiler_builtins) {
    // names both compilers know: the CPUID reading must agree bit for bit
    CHECK(entq_cpuid_bit(7, 0, ENTQ_EBX, 5) == (__builtin_cpu_supports("avx2") != 0));
    CHECK(entq_cpuid_bit(7, 0, ENTQ_EBX, 3) == (__builtin_cpu_supports("bmi") != 0));
    CHECK(entq_cpuid_bit(7, 0, ENTQ_EBX, 8) == (__builtin_cpu_supports("bmi2") != 0));
    CHECK(entq_cpuid_bit(1, 0, ENTQ_ECX, 23) == (__builtin_cpu_supports("popcnt") != 0));
    CHECK(!entq_cpuid_bit(0x7fffffffu, 0, ENTQ_EAX, 0));  // a leaf past the maximum reads as absent
#if !defined(__clang__)
    // the names only GCC takes: the replacements must match them where GCC can tell
    CHECK(entq_cpu_has_bmi2_lzcnt() == (__builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("abm")));
    CHECK(entq_cpu_has_avxvnni() == (__builtin_cpu_supports("avxvnni") != 0));
#endif
    CHECK(entq_layout_bmi2_available() == entq_cpu_has_bmi2_lzcnt());
    CHECK(entq_vnni256_available() == (entq_cpu_has_avxvnni() && entq_avx2_available()));
}
#endif
