/* entq_ggml.h - how an ENTQ stream lives in ggml (any backend, and the loader).
 *
 * A GGUF stores a coded weight under its usual name as a 1-D tensor of type
 * GGML_TYPE_ENTQ (block 1, size 1) whose length is the stream's byte count S,
 * so file offsets and size estimates stay exact. The model asks for a [K, N]
 * matrix; it gets a view of that blob with
 *
 *     ne = [K, N, 1, 1],  nb = [0, 0, 0, S]
 *
 * nb0 = nb1 = 0 because there is no element addressing into a coded stream
 * (and nb0 > nb1 would read as "transposed" to ggml_mul_mat); nb3 = S because
 * the patched ggml_nbytes() returns nb[3] for this type: the blob's own
 * nb[3] is S too, and ggml_dup_tensor_layout() copies strides, so every copy
 * a scheduler makes moves exactly the whole stream.
 *
 * A 3-D mixture-of-experts weight [K, N, E] (MUL_MAT_ID) is one stream whose
 * header holds E experts and E x N rows, each expert's rows whole segments
 * (docs/FORMAT.md); its view is
 *
 *     ne = [K, N, E, 1],  nb = [0, 0, 0, S]
 *
 * with nb2 = 0 too: an expert is found by its rows in the stream (rows
 * e N .. e N + N - 1, segments e N / R ..), not by a byte stride, since
 * experts code to different sizes.
 */
#ifndef ENTQ_GGML_H
#define ENTQ_GGML_H

#include "ggml.h"
#include "stream/entq_decode.h"

#include <stdio.h>
#include <stdlib.h>

#define ENTQ_GGML_STR_(x) #x
#define ENTQ_GGML_STR(x) ENTQ_GGML_STR_(x)

#ifdef __cplusplus
static_assert((int) GGML_TYPE_ENTQ == ENTQ_GGML_TYPE_ID, "patched ggml.h and entq_format.h disagree on the type id");
#endif

/* The [K, N] (E = 1) or [K, N, E] view of a 1-D coded blob; the view is named
 * "<blob>.entq" so that loaders keyed by tensor name (weights map,
 * tensors_by_name) skip it. */
static inline struct ggml_tensor * entq_ggml_weight_view(struct ggml_context * ctx, struct ggml_tensor * blob, int64_t K, int64_t N, int64_t E) {
    const size_t S = (size_t) blob->ne[0];
    struct ggml_tensor * v = ggml_view_1d(ctx, blob, (int64_t) S, 0);
    v->ne[0] = K;
    v->ne[1] = N;
    v->ne[2] = E;
    v->ne[3] = 1;
    v->nb[0] = 0;
    v->nb[1] = 0;
    v->nb[2] = 0;
    v->nb[3] = S;
    ggml_format_name(v, "%s.entq", blob->name);
    return v;
}

/* The same layout on a tensor struct the caller owns (a loader's metadata
 * copy), so backends judge the [K, N] multiply they will really run. */
static inline void entq_ggml_set_weight_layout(struct ggml_tensor * t, int64_t K, int64_t N, int64_t E, size_t S) {
    t->ne[0] = K;
    t->ne[1] = N;
    t->ne[2] = E;
    t->ne[3] = 1;
    t->nb[0] = 0;
    t->nb[1] = 0;
    t->nb[2] = 0;
    t->nb[3] = S;
}

/* The experts a stream of a [K, N, E] weight declares: 0 for a matrix (E = 1). */
static inline uint32_t entq_ggml_stream_experts(int64_t E) { return E > 1 ? (uint32_t) E : 0; }

/* Checks the fixed header (the first ENTQ_FIXED_HEADER_BYTES of a stream of
 * S bytes) against the shape the model expects, [K, N] or [K, N, E], before
 * any data is loaded. Returns NULL when it fits, else a message for
 * "tensor '<name>': ...". The full check (entq_parse) runs once the bytes
 * are in memory. */
static inline const char * entq_ggml_check_header(const uint8_t * hdr, uint64_t S, int64_t K, int64_t N, int64_t E) {
    if (S < ENTQ_FIXED_HEADER_BYTES) return "coded stream shorter than its fixed header";
    if (memcmp(hdr, ENTQ_MAGIC, 4) != 0) return "not an ENTQ stream (bad magic)";
    if (entq_rd16(hdr + 4) != ENTQ_VERSION) return "unsupported ENTQ format version (this build reads version " ENTQ_GGML_STR(ENTQ_VERSION) ")";
    if (entq_rd16(hdr + 26) != entq_ggml_stream_experts(E)) {
        return E > 1 ? "the model expects a stack of experts' matrices, the stream holds another number of experts (or one matrix)"
                     : "the model expects one matrix, the stream holds a stack of experts' matrices";
    }
    if ((int64_t) entq_rd32(hdr + 8) != K || (int64_t) entq_rd32(hdr + 12) != N * E) return "stream shape [K, N] does not match the model's weight shape";
    return NULL;
}

/* Names segment `seg` of a parsed stream and what is wrong with it, for an error message:
 * "segment 3 of 12 (rows 96-127): <what>". */
static inline void entq_ggml_segment_error(const entq_info *in, uint32_t seg, const char *what, char *msg, size_t cap) {
    const uint32_t r0 = seg * in->rows_per_seg;
    snprintf(msg, cap, "segment %u of %u (rows %u-%u): %s", seg, in->n_seg, r0, r0 + entq_segment_rows(in, seg) - 1, what);
}

/* The first segment of a parsed stream that does not decode to its lanes' final states, or n_seg
 * when all do (or when there is no memory to look). Decodes K x N symbols: for error paths only. */
static inline uint32_t entq_ggml_first_bad_segment(const entq_info *in, const uint8_t *data) {
    entq_dtable *t = (entq_dtable *) malloc(sizeof(entq_dtable));
    uint8_t *row = (uint8_t *) malloc(in->K);
    uint32_t seg = in->n_seg;
    if (t != NULL && row != NULL) {
        entq_build_dtable(in, data, t);
        for (uint32_t s = 0; s < in->n_seg && seg == in->n_seg; s++) {
            entq_decoder d;
            entq_dec_init(in, data, s, &d);
            for (uint32_t r = 0; r < entq_segment_rows(in, s); r++) entq_dec_run(t, &d, in->K, row);
            if (entq_dec_finish(&d) != ENTQ_OK) seg = s;
        }
    }
    free(row);
    free(t);
    return seg;
}

/* The load-time integrity check of a coded weight's S bytes, on every backend's path: every
 * section in bounds, then the CRC-32C over the whole stream. A damaged file then fails to load
 * (a catchable error in an app) instead of aborting mid-inference when a segment does not decode.
 * Returns 1 when sound; else 0 with the problem in msg. A checksum mismatch names the segment to
 * blame: the first one that no longer decodes (a segment keeps no checksum of its own); when every
 * segment still decodes, the damage lies outside the payload's words or changed codes without
 * breaking a lane, and the message says so. */
static inline int entq_ggml_verify_stream(const uint8_t *data, uint64_t S, char *msg, size_t cap) {
    entq_info info;
    int st = entq_parse(data, S, &info);
    if (st != ENTQ_OK) {
        snprintf(msg, cap, "%s", entq_status_str(st));
        return 0;
    }
    if (entq_check_crc(data, S) == ENTQ_OK) return 1;
    const uint32_t seg = entq_ggml_first_bad_segment(&info, data);
    if (seg < info.n_seg) {
        entq_ggml_segment_error(&info, seg, "does not decode (checksum mismatch)", msg, cap);
    } else {
        snprintf(msg, cap, "checksum mismatch; all %u segments still decode, so the damage is in the header, row scales, codebook, "
                 "table, index or checksum, or changed codes without breaking a lane", info.n_seg);
    }
    return 0;
}

/* ENTGGUF_VERIFY=0 skips that check (trusted files: mapped loads then touch no page). */
static inline int entq_ggml_verify_enabled(void) {
    const char * v = getenv("ENTGGUF_VERIFY");
    return !(v != NULL && strcmp(v, "0") == 0);
}

#endif /* ENTQ_GGML_H */
