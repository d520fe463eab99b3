/* entq_cpuid.h - CPU feature bits read with CPUID, for the features whose
 * __builtin_cpu_supports() names differ between compilers: GCC takes "abm"
 * and "avxvnni", Clang 14 refuses both at compile time ("invalid cpu feature
 * string"), so a header using them did not build with Clang at all.
 * x86 with GCC or Clang only (the callers are inside the same guard).
 */
#ifndef ENTQ_CPUID_H
#define ENTQ_CPUID_H

#include <cpuid.h>
#include <cstdint>

enum entq_cpuid_reg { ENTQ_EAX = 0, ENTQ_EBX = 1, ENTQ_ECX = 2, ENTQ_EDX = 3 };

/* Bit `bit` of register `reg` of CPUID leaf/subleaf; false when the leaf does not exist. */
static inline bool entq_cpuid_bit(uint32_t leaf, uint32_t subleaf, int reg, int bit) {
    unsigned r[4] = {0, 0, 0, 0};
    if (__get_cpuid_max(leaf & 0x80000000u, nullptr) < leaf) return false;
    __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
    return (r[reg] >> bit) & 1;
}

/* BMI1 (CPUID 7.0 EBX 3), BMI2 (7.0 EBX 8), LZCNT (0x80000001 ECX 5, "ABM" on AMD). */
static inline bool entq_cpu_has_bmi2_lzcnt(void) {
    return entq_cpuid_bit(7, 0, ENTQ_EBX, 3) && entq_cpuid_bit(7, 0, ENTQ_EBX, 8) && entq_cpuid_bit(0x80000001u, 0, ENTQ_ECX, 5);
}

/* AVX-VNNI, the VEX-coded 256-bit form (CPUID 7.1 EAX 4); the caller checks AVX2 and OS support. */
static inline bool entq_cpu_has_avxvnni(void) { return entq_cpuid_bit(7, 1, ENTQ_EAX, 4); }

#endif /* ENTQ_CPUID_H */
