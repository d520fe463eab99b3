// entq_cpu.cpp - fused decode + matrix multiply for coded weights on ggml-cpu.
//
// Two paths, chosen by what the weight's data holds:
// * the CPU layout (entq_cpu_layout.h), repacked at load by the CPU_ENTQ
//   buffer type (entq_cpu_buffer.cpp): groups of 12 x R rows whose 12 prefix-
//   coded streams decode together into a buffer of int8 levels; one column
//   (generation) meets them in an int16 dot product (entq_layout_dot.h), more
//   columns (prompts) in f32 register tiles (entq_gemm_avx2.h);
// * the file's ENTQ stream, in a plain CPU buffer (mmap) or kept by CPU_ENTQ
//   where a layout would not pay: the rANS decoders below.
//
// Work split: thread ith of nth takes its share of the layout's groups, or of
// the stream's segments, and writes only their rows of dst; threads never
// synchronise. Each row is decoded exactly once per call and reused for every
// activation column.
//
// rANS decoding: the AVX2 decoder (entq_decode_avx2.h) when the CPU has AVX2,
// else the reference (native/stream/entq_decode.h); both decode the same
// symbols. With one column the AVX2 path never materialises the row: each
// decoded value meets its activation in a fused multiply-add, and the thread's
// segments are decoded two at a time (the first half paired with the second)
// so that one segment's dependent decode chain fills the other's stalls.
// With more columns, blocks of rows are decoded to f32 and multiplied with all
// columns in register tiles (entq_gemm_avx512.h or entq_gemm_avx2.h), else by
// row-by-column dots.
#include "cpu/entq_cpu.h"

#include "ggml-cpu-impl.h"
#include "vec.h"

#include "cpu/entq_cpu_buffer.h"
#include "cpu/entq_decode_avx2.h"
#include "cpu/entq_gemm_avx2.h"
#include "cpu/entq_gemm_avx512.h"
#include "cpu/entq_gemm_int16.h"
#include "cpu/entq_get_rows.h"
#include "ggml/entq_ggml.h"
#include "stream/entq_decode.h"

#include <algorithm>
#include <memory>
#include <vector>

namespace {

// Rows decoded before the columns are visited: with a batch, each column is
// read once per block instead of once per row, and the block (ROW_BLOCK * K
// floats) stays in cache while all columns pass over it.
constexpr uint32_t ROW_BLOCK = 8;

// Per-thread scratch, kept across calls: the decode tables (83 KB reference,
// 128 KB AVX2) are too big for a thread's stack and for static TLS.
struct entq_scratch {
    entq_dtable table;
#if ENTQ_AVX2_DECODER
    entq_avx2_table simd;
#endif
    std::vector<uint8_t> codes;
    std::vector<float> rows;
    std::vector<const float *> xcols;  // the activation and output columns' addresses
    std::vector<float *> ycols;
    // the CPU layout's
    uint64_t ltab[1u << ENTQ_LAYOUT_TABLE_BITS];
    std::vector<int8_t> levels;   // a group's streams
    std::vector<int16_t> q16;     // int16 activations, column after column
    std::vector<float> d16;       // and their block scales
    std::vector<int16_t> rows16;  // a round's rows, widened
    std::vector<float> row_scales;
    std::vector<const int16_t *> qcols;
    std::vector<const float *> dcols;
    entq_row_cache get_rows;  // GET_ROWS: what was decoded last
};

thread_local std::unique_ptr<entq_scratch> scratch;

bool use_avx2() {
#if ENTQ_AVX2_DECODER
    return entq_avx2_available();
#else
    return false;
#endif
}

void finish_or_abort(const ggml_tensor * w, entq_decoder * d, uint32_t seg) {
    const int st = entq_dec_finish(d);
    if (st != ENTQ_OK) {
        GGML_ABORT("entq: tensor '%s': segment %u: %s", w->name, seg, entq_status_str(st));
    }
}

// The activation and output columns one multiply visits: y[c][r - row0] = W[r] . x[c] for the weight's
// rows [row0, row1) (the whole matrix, or one expert's rows of a 3-D weight).
struct entq_cols {
    const float * const * x;
    float * const * y;
    uint32_t n;
};

#if ENTQ_AVX2_DECODER
// GEMV over segments [seg0, seg1), whose first row is row0: y[r - row0] = row r . x, the row scale applied
// to the row's sum (the same weights as the dequantised row, another rounding order).
void gemv_avx2(const ggml_tensor * w, const entq_info & in, const uint8_t * buf, const entq_avx2_table & t, uint32_t seg0,
               uint32_t seg1, uint32_t row0, const float * x, float * y) {
    // y by the weight's row r (y[r - row0]); moving y itself before the array would be undefined behaviour
    auto at = [&](uint32_t r) -> float & { return y[r - row0]; };
    const uint32_t half = (seg1 - seg0) / 2;
    for (uint32_t j = 0; j < half; j++) {
        const uint32_t sa = seg0 + j, sb = seg0 + half + j;
        entq_decoder da, db;
        entq_dec_init(&in, buf, sa, &da);
        entq_dec_init(&in, buf, sb, &db);
        const uint32_t ra = sa * in.rows_per_seg, rb = sb * in.rows_per_seg;
        const uint32_t na = entq_segment_rows(&in, sa), nb = entq_segment_rows(&in, sb);
        uint32_t r = 0;
        for (float sums[2]; r < std::min(na, nb); r++) {
            entq_avx2_dec_dot2(&t, &da, &db, in.K, x, sums);
            at(ra + r) = sums[0] * entq_row_scale(&in, buf, ra + r);
            at(rb + r) = sums[1] * entq_row_scale(&in, buf, rb + r);
        }
        for (uint32_t q = r; q < na; q++) at(ra + q) = entq_avx2_dec_dot(&t, &da, in.K, x) * entq_row_scale(&in, buf, ra + q);
        for (uint32_t q = r; q < nb; q++) at(rb + q) = entq_avx2_dec_dot(&t, &db, in.K, x) * entq_row_scale(&in, buf, rb + q);
        finish_or_abort(w, &da, sa);
        finish_or_abort(w, &db, sb);
    }
    for (uint32_t seg = seg0 + 2 * half; seg < seg1; seg++) {  // an odd one out
        entq_decoder d;
        entq_dec_init(&in, buf, seg, &d);
        const uint32_t r0 = seg * in.rows_per_seg;
        for (uint32_t r = r0; r < r0 + entq_segment_rows(&in, seg); r++) {
            at(r) = entq_avx2_dec_dot(&t, &d, in.K, x) * entq_row_scale(&in, buf, r);
        }
        finish_or_abort(w, &d, seg);
    }
}
#endif

// The addresses of src1's and dst's columns (any strides over dims 1-3).
void collect_columns(const ggml_tensor * x, const ggml_tensor * dst, entq_scratch & s) {
    const int64_t ncols = x->ne[1] * x->ne[2] * x->ne[3];
    s.xcols.resize(ncols);
    s.ycols.resize(ncols);
    for (int64_t i13 = 0, c = 0; i13 < x->ne[3]; i13++) {
        for (int64_t i12 = 0; i12 < x->ne[2]; i12++) {
            for (int64_t i11 = 0; i11 < x->ne[1]; i11++, c++) {
                s.xcols[c] = (const float *) ((const char *) x->data + i11 * x->nb[1] + i12 * x->nb[2] + i13 * x->nb[3]);
                s.ycols[c] = (float *) ((char *) dst->data + i11 * dst->nb[1] + i12 * dst->nb[2] + i13 * dst->nb[3]);
            }
        }
    }
}

// Rows [row0, row1) of the CPU layout times the columns: this thread's share of the groups holding them,
// each decoded once (12 streams together), then every row of it in range against every column. A group
// straddling row0 or row1 (an expert's edge) is decoded whole; only its rows in range are used.
void layout_rows(const ggml_compute_params * params, const entq_layout * L, uint32_t row0, uint32_t row1, const entq_cols & cols,
                 entq_scratch & s) {
    const uint32_t K = L->K, R = L->rows_per_stream, S = ENTQ_LAYOUT_STREAMS, G = S * R;
    const uint32_t ga = row0 / G, gb = (row1 + G - 1) / G;
    // threads' shares: with one column decoding is the work, and it goes with the bytes (rows differ in
    // rate); with more the tile product is, and it goes with the rows
    uint32_t g0, g1;
    if (cols.n == 1) {
        const uint32_t * starts = entq_layout_starts(L);
        const uint64_t first = starts[(size_t) ga * S], total = starts[(size_t) gb * S] - first;
        auto first_at = [&](int ith) {  // the first group starting at or after ith/nth of the bytes
            const uint64_t at = first + total * (uint64_t) ith / (uint64_t) params->nth;
            uint32_t lo = ga, hi = gb;
            while (lo < hi) {
                const uint32_t mid = (lo + hi) / 2;
                if (starts[(size_t) mid * S] < at) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            return lo;
        };
        g0 = params->ith == 0 ? ga : first_at(params->ith);
        g1 = params->ith + 1 == params->nth ? gb : first_at(params->ith + 1);
    } else {
        g0 = ga + (uint32_t) ((uint64_t) (gb - ga) * params->ith / params->nth);
        g1 = ga + (uint32_t) ((uint64_t) (gb - ga) * (params->ith + 1) / params->nth);
    }
    if (g0 == g1) {
        return;
    }
    const size_t stride = (size_t) R * K + ENTQ_LAYOUT_OVERRUN;
    s.levels.resize(S * stride);
    // the activations as int16 (entq_layout_dot.h), every column: each thread makes its own copy,
    // ~1% of a prompt's time, and no thread waits for another
    const uint32_t Kp = entq_act16_len(K), nbk = entq_act16_blocks(K);
    s.q16.resize((size_t) cols.n * Kp);
    s.d16.resize((size_t) cols.n * nbk);
    s.qcols.resize(cols.n);
    s.dcols.resize(cols.n);
    for (uint32_t c = 0; c < cols.n; c++) {
        entq_act16_quantize(cols.x[c], K, s.q16.data() + (size_t) c * Kp, s.d16.data() + (size_t) c * nbk);
        s.qcols[c] = s.q16.data() + (size_t) c * Kp;
        s.dcols[c] = s.d16.data() + (size_t) c * nbk;
    }
    if (cols.n == 1) {
        float * y = cols.y[0];
        for (uint32_t g = g0; g < g1; g++) {
            entq_layout_decode_group(L, s.ltab, g, s.levels.data(), stride);
            for (uint32_t st = 0; st < S; st++) {
                const int8_t * lv = s.levels.data() + st * stride;
                for (uint32_t j = 0; j < entq_layout_stream_rows(L, g, st); j++, lv += K) {
                    const uint32_t r = (g * R + j) * S + st;
                    if (r >= row0 && r < row1) {
                        y[r - row0] = entq_layout_dot16(lv, s.qcols[0], s.dcols[0], K) * entq_layout_row_scale(L, r);
                    }
                }
            }
        }
        return;
    }
    s.rows16.resize((size_t) S * Kp);
    s.row_scales.resize(S);
    const entq_act16_cols act = {s.qcols.data(), s.dcols.data()};
    for (uint32_t g = g0; g < g1; g++) {
        entq_layout_decode_group(L, s.ltab, g, s.levels.data(), stride);
        for (uint32_t j = 0; j < R; j++) {
            const uint32_t r0 = (g * R + j) * S;  // row j of each stream: S consecutive rows, clipped to the range
            const uint32_t lo = std::max(r0, row0), hi = std::min({r0 + S, L->N, row1});
            if (lo >= hi) {
                continue;
            }
            for (uint32_t r = lo; r < hi; r++) {
                const int8_t * lv = s.levels.data() + (r - r0) * stride + (size_t) j * K;
                int16_t * row = s.rows16.data() + (size_t) (r - lo) * Kp;
                for (uint32_t k = 0; k < Kp; k++) {  // past K: the overrun's levels, met by zero activations
                    row[k] = lv[k];
                }
                s.row_scales[r - lo] = entq_layout_row_scale(L, r);
            }
            entq_int16_gemm(s.rows16.data(), Kp, hi - lo, K, act, cols.y, cols.n, lo - row0, s.row_scales.data());
        }
    }
}

// Segments [sa, sb) of the rANS stream times the columns, their first row being row0: this thread's share
// of the segments, each row decoded once.
void stream_rows(const ggml_compute_params * params, const ggml_tensor * w, const entq_info & in, const uint8_t * buf, uint32_t sa,
                 uint32_t sb, const entq_cols & cols, entq_scratch & s) {
    const uint32_t row0 = sa * in.rows_per_seg;
    const uint32_t seg0 = sa + (uint32_t) ((uint64_t) (sb - sa) * params->ith / params->nth);
    const uint32_t seg1 = sa + (uint32_t) ((uint64_t) (sb - sa) * (params->ith + 1) / params->nth);
    if (seg0 == seg1) {
        return;
    }
    const bool simd = use_avx2();
    const int64_t K = in.K;
    const uint32_t block = cols.n == 1 ? 1 : ROW_BLOCK;
    if (simd && cols.n == 1) {
#if ENTQ_AVX2_DECODER
        gemv_avx2(w, in, buf, s.simd, seg0, seg1, row0, cols.x[0], cols.y[0]);
#endif
        return;
    }
    s.codes.resize(K);
    s.rows.resize((size_t) block * K);
    for (uint32_t seg = seg0; seg < seg1; seg++) {
        entq_decoder d;
        entq_dec_init(&in, buf, seg, &d);
        const uint32_t seg_row0 = seg * in.rows_per_seg;
        const uint32_t seg_rows = entq_segment_rows(&in, seg);
        for (uint32_t r = 0; r < seg_rows; r += block) {
            const uint32_t nb = std::min(block, seg_rows - r);
            // dequantise exactly as entq_decode_dequantize() does (value * row scale in f32),
            // so results differ from an f32 copy of the weights only in summation order
            for (uint32_t b = 0; b < nb; b++) {
                const float scale = entq_row_scale(&in, buf, seg_row0 + r + b);
                float * row = s.rows.data() + (size_t) b * K;
#if ENTQ_AVX2_DECODER
                if (simd) {
                    entq_avx2_dec_values(&s.simd, &d, (uint64_t) K, scale, row);
                    continue;
                }
#endif
                entq_dec_run(&s.table, &d, (uint64_t) K, s.codes.data());
                for (int64_t k = 0; k < K; k++) {
                    row[k] = s.table.value[s.codes[k]] * scale;
                }
            }
            const uint32_t y0 = seg_row0 + r - row0;
#if ENTQ_AVX2_DECODER
            if (simd) {
                (entq_avx512_available() ? entq_avx512_gemm : entq_avx2_gemm)(s.rows.data(), (size_t) K, nb, K, cols.x, cols.y, cols.n, y0);
                continue;
            }
#endif
            for (uint32_t c = 0; c < cols.n; c++) {
                for (uint32_t b = 0; b < nb; b++) {
                    ggml_vec_dot_f32((int) K, cols.y[c] + y0 + b, 0, s.rows.data() + (size_t) b * K, 0, cols.x[c], 0, 1);
                }
            }
        }
        finish_or_abort(w, &d, seg);
    }
}

// What a coded weight's data holds, parsed once per call.
struct entq_weight_data {
    const entq_layout * layout = nullptr;  // the CPU layout, or
    entq_info in;                          // the rANS stream
    const uint8_t * buf = nullptr;
};

// A 2-D weight [K, N] (experts 0) or a 3-D one [K, N, E] (its stream holds E experts' rows): its layout,
// or its stream parsed. A damaged or mismatched one aborts naming the tensor.
entq_weight_data weight_data_of(const ggml_tensor * w) {
    entq_weight_data wd;
    const uint64_t E = (uint64_t) w->ne[2], experts = w->ne[2] > 1 ? E : 0;
    const uint64_t rows = (uint64_t) w->ne[1] * E;
    // the view's nb[3] is the stream's byte count; a CPU_ENTQ buffer holds a record instead. The record
    // (a pointer) is trusted only there: elsewhere the bytes are a stream from a file or an RPC client
    const uint8_t * buf = (const uint8_t *) w->data;
    uint64_t size = ggml_nbytes(w);
    const ggml_backend_buffer_t wbuf = w->buffer ? w->buffer : w->view_src ? w->view_src->buffer : nullptr;
    const bool in_entq_buffer = wbuf && entq_cpu_buffer_type() && ggml_backend_buffer_get_type(wbuf) == entq_cpu_buffer_type();
    if (in_entq_buffer && size >= sizeof(entq_cpu_weight) && entq_rd32(buf) == ENTQ_CPU_WEIGHT_MAGIC) {
        entq_cpu_weight rec;
        memcpy(&rec, buf, sizeof(rec));
        if (rec.is_layout) {
            wd.layout = (const entq_layout *) rec.data;
            if ((int64_t) wd.layout->K != w->ne[0] || wd.layout->N != rows) {
                GGML_ABORT("entq: tensor '%s': CPU layout of [%u, %u] for a weight of %llu rows of %lld", w->name, wd.layout->K,
                           wd.layout->N, (unsigned long long) rows, (long long) w->ne[0]);
            }
            return wd;
        }
        buf = rec.data;
        size = rec.bytes;
    }
    int st = w->ne[0] > UINT32_MAX || rows > UINT32_MAX ? ENTQ_ERR_SHAPE : entq_parse_shape(buf, size, (uint32_t) w->ne[0], (uint32_t) rows, &wd.in);
    if (st == ENTQ_OK && wd.in.n_expert != experts) {
        st = ENTQ_ERR_SHAPE;
    }
    if (st != ENTQ_OK) {
        GGML_ABORT("entq: tensor '%s': %s", w->name, entq_status_str(st));
    }
    wd.buf = buf;
    return wd;
}

// The weight's data, with this thread's decode table built for it.
entq_weight_data open_weight(const ggml_tensor * w, entq_scratch & s) {
    const entq_weight_data wd = weight_data_of(w);
    if (wd.layout) {
        entq_layout_build_table(wd.layout, s.ltab);
        return wd;
    }
    const uint8_t * buf = wd.buf;
#if ENTQ_AVX2_DECODER
    if (use_avx2()) {
        entq_avx2_build_table(&wd.in, buf, &s.simd);
        return wd;
    }
#endif
    entq_build_dtable(&wd.in, buf, &s.table);
    return wd;
}

// Rows [row0, row1) of the weight (whole segments of the stream) times the columns.
void weight_rows(const ggml_compute_params * params, const ggml_tensor * w, const entq_weight_data & wd, uint32_t row0, uint32_t row1,
                 const entq_cols & cols, entq_scratch & s) {
    if (wd.layout) {
        layout_rows(params, wd.layout, row0, row1, cols, s);
    } else {
        stream_rows(params, w, wd.in, wd.buf, row0 / wd.in.rows_per_seg, (row1 + wd.in.rows_per_seg - 1) / wd.in.rows_per_seg, cols, s);
    }
}

entq_scratch & thread_scratch() {
    if (!scratch) {
        scratch = std::make_unique<entq_scratch>();
    }
    return *scratch;
}

}  // namespace

extern "C" bool entq_cpu_supports_op(const struct ggml_tensor * op) {
    const ggml_tensor * w = op->src[0];
    const ggml_tensor * x = op->src[1];
    // every shape the kernels index by, so that a malformed graph (e.g. received over RPC) is refused, not run
    if (op->op == GGML_OP_GET_ROWS) {
        return w && x && w->type == GGML_TYPE_ENTQ && x->type == GGML_TYPE_I32 && op->type == GGML_TYPE_F32 && w->ne[2] == 1 &&
               w->ne[3] == 1 && x->ne[1] == 1 && x->ne[2] == 1 && x->ne[3] == 1 && op->ne[0] == w->ne[0] && op->ne[1] == x->ne[0] &&
               op->ne[2] == 1 && op->ne[3] == 1 && op->nb[0] == sizeof(float);
    }
    if (!w || !x || w->type != GGML_TYPE_ENTQ || x->type != GGML_TYPE_F32 || op->type != GGML_TYPE_F32 || x->nb[0] != sizeof(float) ||
        op->nb[0] != sizeof(float) || x->ne[0] != w->ne[0] || op->ne[0] != w->ne[1] || w->ne[3] != 1) {
        return false;
    }
    if (op->op == GGML_OP_MUL_MAT) {
        return w->ne[2] == 1 && op->ne[1] == x->ne[1] && op->ne[2] == x->ne[2] && op->ne[3] == x->ne[3];
    }
    // ids [n_used, n_tokens] picks, per token, the experts; x [K, 1 or n_used, n_tokens]; dst [N, n_used, n_tokens]
    const ggml_tensor * ids = op->src[2];
    return op->op == GGML_OP_MUL_MAT_ID && ids && ids->type == GGML_TYPE_I32 && ids->nb[0] == sizeof(int32_t) && ids->ne[2] == 1 &&
           ids->ne[3] == 1 && x->ne[3] == 1 && x->ne[1] >= 1 && ids->ne[0] % x->ne[1] == 0 && ids->ne[1] == x->ne[2] &&
           op->ne[1] == ids->ne[0] && op->ne[2] == ids->ne[1] && op->ne[3] == 1 && w->ne[2] >= 1 && w->ne[2] <= 65535;
}

extern "C" void entq_cpu_mul_mat(const struct ggml_compute_params * params, struct ggml_tensor * dst) {
    const ggml_tensor * w = dst->src[0];
    GGML_ASSERT(entq_cpu_supports_op(dst) && dst->op == GGML_OP_MUL_MAT);
    entq_scratch & s = thread_scratch();
    const entq_weight_data wd = open_weight(w, s);
    collect_columns(dst->src[1], dst, s);
    const entq_cols cols = {s.xcols.data(), s.ycols.data(), (uint32_t) s.xcols.size()};
    weight_rows(params, w, wd, 0, (uint32_t) w->ne[1], cols, s);
}

extern "C" void entq_cpu_mul_mat_id(const struct ggml_compute_params * params, struct ggml_tensor * dst) {
    const ggml_tensor * w = dst->src[0];
    const ggml_tensor * x = dst->src[1];
    const ggml_tensor * ids = dst->src[2];
    GGML_ASSERT(entq_cpu_supports_op(dst) && dst->op == GGML_OP_MUL_MAT_ID);
    entq_scratch & s = thread_scratch();
    const entq_weight_data wd = open_weight(w, s);
    const int64_t E = w->ne[2], n_used = ids->ne[0], n_tok = ids->ne[1];
    const uint32_t N = (uint32_t) w->ne[1];
    // every thread reads the routing itself (a few bytes per token), so no thread waits for another;
    // then each expert that a token routes to is decoded once for all its tokens, the others not at all
    std::vector<const float *> xcols;
    std::vector<float *> ycols;
    std::vector<uint32_t> count(E + 1, 0);
    for (int64_t t = 0; t < n_tok; t++) {
        for (int64_t u = 0; u < n_used; u++) {
            const int32_t e = *(const int32_t *) ((const char *) ids->data + u * ids->nb[0] + t * ids->nb[1]);
            if (e < 0 || e >= E) {
                GGML_ABORT("entq: tensor '%s': expert id %d out of range [0, %lld)", w->name, e, (long long) E);
            }
            count[e + 1]++;
        }
    }
    for (int64_t e = 0; e < E; e++) {
        count[e + 1] += count[e];  // now each expert's first slot
    }
    xcols.resize(count[E]);
    ycols.resize(count[E]);
    std::vector<uint32_t> fill(count.begin(), count.end() - 1);
    for (int64_t t = 0; t < n_tok; t++) {
        for (int64_t u = 0; u < n_used; u++) {
            const int32_t e = *(const int32_t *) ((const char *) ids->data + u * ids->nb[0] + t * ids->nb[1]);
            const uint32_t c = fill[e]++;
            xcols[c] = (const float *) ((const char *) x->data + (u % x->ne[1]) * x->nb[1] + t * x->nb[2]);
            ycols[c] = (float *) ((char *) dst->data + u * dst->nb[1] + t * dst->nb[2]);
        }
    }
    for (int64_t e = 0; e < E; e++) {
        if (count[e + 1] == count[e]) {
            continue;
        }
        const entq_cols cols = {xcols.data() + count[e], ycols.data() + count[e], count[e + 1] - count[e]};
        weight_rows(params, w, wd, (uint32_t) e * N, (uint32_t) (e + 1) * N, cols, s);
    }
}

extern "C" void entq_cpu_get_rows(const struct ggml_compute_params * params, struct ggml_tensor * dst) {
    const ggml_tensor * w = dst->src[0];
    const ggml_tensor * ids = dst->src[1];
    GGML_ASSERT(entq_cpu_supports_op(dst) && dst->op == GGML_OP_GET_ROWS);
    const int64_t n = ids->ne[0], N = w->ne[1];
    const int64_t r0 = n * params->ith / params->nth, r1 = n * (params->ith + 1) / params->nth;
    if (r0 == r1) {
        return;
    }
    entq_row_cache & c = thread_scratch().get_rows;
    c.reset(nullptr);  // the same address may hold another weight than at the last call
    const entq_weight_data wd = weight_data_of(w);
    for (int64_t i = r0; i < r1; i++) {
        const int32_t row = *(const int32_t *) ((const char *) ids->data + i * ids->nb[0]);
        if (row < 0 || row >= N) {
            GGML_ABORT("entq: tensor '%s': row %d asked for, the weight has %lld", w->name, (int) row, (long long) N);
        }
        float * out = (float *) ((char *) dst->data + i * dst->nb[1]);
        if (wd.layout) {
            entq_layout_get_row(wd.layout, (uint32_t) row, c, out);
        } else if (entq_stream_get_row(&wd.in, wd.buf, (uint32_t) row, c, out) != ENTQ_OK) {
            GGML_ABORT("entq: tensor '%s': segment %u: %s", w->name, c.seg, entq_status_str(ENTQ_ERR_PAYLOAD));
        }
    }
}
