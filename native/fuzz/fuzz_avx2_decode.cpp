// libFuzzer target: the AVX2 rANS decoder of the CPU kernel
// (native/cpu/entq_decode_avx2.h), differential against the reference
// (native/stream/entq_decode.h) on every stream the parser accepts.
// Input: one ENTQ stream.
// Properties: the same symbols, lane states, word position and end status as
// the reference, split into runs anywhere; dequantised values bit-equal; the
// two-segment dot product equal to the one-segment one, and both within
// rounding of the reference's; no out-of-bounds access on corrupt payloads.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "cpu/entq_decode_avx2.h"
#include "fuzz/fuzz_check.h"

#if !ENTQ_AVX2_DECODER
#error "the AVX2 decoder harness needs an x86 build with GCC or Clang"
#endif

namespace {

struct Split {  // run lengths from the (unchecked) checksum bytes: every input splits its own way
    uint32_t s;
    uint64_t next(uint64_t left) {
        s = s * 1103515245u + 12345u;
        return std::min<uint64_t>(left, 1 + (s >> 16) % 77);
    }
};

bool same_state(const entq_decoder &a, const entq_decoder &b) {
    return memcmp(a.x, b.x, sizeof(a.x)) == 0 && a.ptr == b.ptr && a.i == b.i;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!entq_avx2_available()) return 0;  // the runner reports this: the harness then checks nothing
    std::unique_ptr<uint8_t[]> buf;
    entq_info in;
    if (!fuzz_parse_copy(data, size, buf, &in)) return 0;
    const uint8_t *b = buf.get();
    std::unique_ptr<entq_dtable> ref(new entq_dtable);
    std::unique_ptr<entq_avx2_table> simd(new entq_avx2_table);
    entq_build_dtable(&in, b, ref.get());
    entq_avx2_build_table(&in, b, simd.get());

    const uint32_t K = in.K;
    std::vector<float> x(K), vals(K), one_y(in.N), two_y(in.N);
    std::vector<uint8_t> codes((uint64_t)K * in.N);
    for (uint32_t k = 0; k < K; k++) x[k] = (float)((k * 37u) % 17) - 8.0f;
    Split split{entq_rd32(b + ENTQ_CRC_OFFSET) | 1};

    for (uint32_t seg = 0; seg < in.n_seg; seg++) {
        entq_decoder dr, da;
        entq_dec_init(&in, b, seg, &dr);
        entq_dec_init(&in, b, seg, &da);
        std::vector<uint8_t> want(dr.count), got(dr.count);
        entq_dec_run(ref.get(), &dr, dr.count, want.data());
        for (uint64_t done = 0; done < da.count;) {
            const uint64_t n = split.next(da.count - done);
            entq_avx2_dec_codes(simd.get(), ref->sym, &da, n, got.data() + done);
            done += n;
        }
        FUZZ_CHECK(same_state(dr, da));
        FUZZ_CHECK(memcmp(want.data(), got.data(), dr.count) == 0);
        FUZZ_CHECK(entq_dec_finish(&dr) == entq_dec_finish(&da));

        // values, row by row as the batched kernel decodes them
        entq_decoder dv;
        entq_dec_init(&in, b, seg, &dv);
        const uint32_t r0 = seg * in.rows_per_seg;
        for (uint32_t r = 0; r < entq_segment_rows(&in, seg); r++) {
            const float scale = entq_row_scale(&in, b, r0 + r);
            entq_avx2_dec_values(simd.get(), &dv, K, scale, vals.data());
            for (uint32_t k = 0; k < K; k++) {
                const float w = ref->value[want[(uint64_t)r * K + k]] * scale;
                FUZZ_CHECK(memcmp(&w, &vals[k], 4) == 0);
            }
        }
        FUZZ_CHECK(same_state(dr, dv));
        memcpy(codes.data() + (uint64_t)r0 * K, want.data(), want.size());
    }

    // the GEMV's schedule (entq_cpu.cpp gemv_avx2): segment pairs in lock step, then the rest one by one
    const uint32_t half = in.n_seg / 2;
    for (uint32_t j = 0; j < half; j++) {
        const uint32_t sa = j, sb = half + j;
        entq_decoder da, db, sa1, sb1;
        entq_dec_init(&in, b, sa, &da);
        entq_dec_init(&in, b, sb, &db);
        entq_dec_init(&in, b, sa, &sa1);
        entq_dec_init(&in, b, sb, &sb1);
        const uint32_t ra = sa * in.rows_per_seg, rb = sb * in.rows_per_seg;
        const uint32_t na = entq_segment_rows(&in, sa), nb = entq_segment_rows(&in, sb);
        uint32_t r = 0;
        for (float sums[2]; r < std::min(na, nb); r++) {
            entq_avx2_dec_dot2(simd.get(), &da, &db, K, x.data(), sums);
            two_y[ra + r] = sums[0];
            two_y[rb + r] = sums[1];
        }
        for (uint32_t q = r; q < na; q++) two_y[ra + q] = entq_avx2_dec_dot(simd.get(), &da, K, x.data());
        for (uint32_t q = r; q < nb; q++) two_y[rb + q] = entq_avx2_dec_dot(simd.get(), &db, K, x.data());
        for (uint32_t q = 0; q < na; q++) one_y[ra + q] = entq_avx2_dec_dot(simd.get(), &sa1, K, x.data());
        for (uint32_t q = 0; q < nb; q++) one_y[rb + q] = entq_avx2_dec_dot(simd.get(), &sb1, K, x.data());
        FUZZ_CHECK(same_state(da, sa1) && same_state(db, sb1));
    }
    for (uint32_t seg = 2 * half; seg < in.n_seg; seg++) {
        entq_decoder d;
        entq_dec_init(&in, b, seg, &d);
        const uint32_t r0 = seg * in.rows_per_seg;
        for (uint32_t r = r0; r < r0 + entq_segment_rows(&in, seg); r++) two_y[r] = one_y[r] = entq_avx2_dec_dot(simd.get(), &d, K, x.data());
    }
    for (uint32_t r = 0; r < in.N; r++) {
        FUZZ_CHECK(memcmp(&one_y[r], &two_y[r], 4) == 0);
        // against the exact sum of the same symbols: within n eps sum|terms| (another summation
        // order); |value| <= 65504 (f16) and |x| <= 8 keep every sum finite
        double exact = 0, mag = 0;
        for (uint32_t k = 0; k < K; k++) {
            const double t = (double)ref->value[codes[(uint64_t)r * K + k]] * x[k];
            exact += t;
            mag += std::fabs(t);
        }
        FUZZ_CHECK(std::fabs((double)one_y[r] - exact) <= (K + 8) * 0x1p-23 * mag);
    }
    return 0;
}
