/* entq_format.h - the ENTQ stream: one entropy-coded tensor of 8-bit codes.
 *
 * This header defines the byte layout (docs/FORMAT.md is the prose twin of
 * this comment), the constants every backend shares, and a parser that checks
 * every length against the buffer before anything reads it.
 *
 *   value[r][k] = codebook[code[r][k]] * scale_base * row_scale[r]
 *
 * Layout, all little-endian, offsets relative to the stream's first byte:
 *
 *   1. fixed header, 36 bytes
 *        0  u8[4] magic "ENTQ"
 *        4  u16   version (ENTQ_VERSION)
 *        6  u8    code kind (enum entq_code_kind)
 *        7  u8    prob_bits: frequencies sum to 2^prob_bits (ENTQ_MIN..MAX_PROB_BITS)
 *        8  u32   K, the row length (elements per row), >= 1
 *       12  u32   N, the number of rows, >= 1
 *       16  u32   rows per segment, 1..N (the last segment may hold fewer)
 *       20  f32   scale_base, finite and > 0 (a power of two by convention)
 *       24  u16   n_sym: distinct symbols that occur, 1..256
 *       26  u16   experts E: 0 = one matrix; E >= 1 = the N rows are E experts'
 *                 matrices of N / E rows each, one after another (a 3-D
 *                 [K, N / E, E] weight), E divides N and the rows per
 *                 segment divide N / E, so no segment spans two experts
 *       28  u32   payload bytes (section 7)
 *       32  u32   CRC-32C of the whole stream with these 4 bytes left out
 *   2. codebook, 256 x f16, only when code kind is ENTQ_CODES_CUSTOM
 *      (E4M3 and INT8 codebooks are implied by the kind)
 *   3. row scales, N x f16, finite and >= 0, and codebook value x scale_base
 *      x row scale finite in f32 for every present symbol and row
 *   4. symbol set: n_sym <= 32: n_sym bytes, strictly ascending;
 *                  otherwise a 256-bit bitmap (32 bytes, bit s%8 of byte s/8)
 *   5. frequencies of all but the last present symbol, in ascending symbol
 *      order, each as LEB128 of (freq - 1); the last is 2^prob_bits minus
 *      the others and must be >= 1
 *   6. zero padding to a multiple of 4, then the segment index:
 *      n_seg x u32, the end offset of each segment within the payload;
 *      strictly increasing multiples of 4, the last equal to payload bytes
 *   7. payload: per segment, 32 x u32 initial decoder states (one per lane),
 *      then the u16 renormalisation words in decoding order, then one zero
 *      u16 if needed to reach a multiple of 4 bytes
 *
 * The stream's byte count is exactly the sum of these sections.
 *
 * Lanes: symbol i of a segment (row-major within the segment's rows) belongs
 * to lane i % 32 and is decoded at step i / 32. At every step the lanes
 * decode in parallel; lanes whose state fell below ENTQ_RANS_L then read one
 * word each, in ascending lane order. A CUDA warp or a Metal simdgroup maps
 * one lane to one thread; a CPU runs the 32 lanes as independent chains.
 */
#ifndef ENTQ_FORMAT_H
#define ENTQ_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "entq_crc32c.h"

#if defined(__CUDACC__)
#define ENTQ_HD __host__ __device__
#else
#define ENTQ_HD
#endif

#define ENTQ_MAGIC "ENTQ"
/* The ggml type id of a coded weight in a GGUF (patched llama.cpp's
 * GGML_TYPE_ENTQ, checked against this at compile time). Far above upstream's
 * ids (43 is the next free one in llama.cpp v0.5.0) so that new upstream types
 * do not collide; docs/DESIGN.md, "llama.cpp integration". */
#define ENTQ_GGML_TYPE_ID 100
#define ENTQ_VERSION 1
#define ENTQ_FIXED_HEADER_BYTES 36
#define ENTQ_CRC_OFFSET 32
#define ENTQ_LANES 32
#define ENTQ_MIN_PROB_BITS 8
#define ENTQ_MAX_PROB_BITS 14
#define ENTQ_SYMBOL_LIST_MAX 32   /* above this the symbol set is a bitmap */
#define ENTQ_SEGMENT_STATE_BYTES (ENTQ_LANES * 4)

enum entq_code_kind {
    ENTQ_CODES_E4M3 = 0,    /* FP8 E4M3 bytes, sign in bit 7 */
    ENTQ_CODES_INT8 = 1,    /* two's complement int8 */
    ENTQ_CODES_CUSTOM = 2,  /* codebook stored in the stream */
    ENTQ_CODES_COUNT
};

enum entq_status {
    ENTQ_OK = 0,
    ENTQ_ERR_TRUNCATED,        /* the buffer ends before a section does */
    ENTQ_ERR_MAGIC,            /* not an ENTQ stream */
    ENTQ_ERR_VERSION,          /* a format version this code does not know */
    ENTQ_ERR_HEADER,           /* a header field out of range */
    ENTQ_ERR_SHAPE,            /* K/N differ from what the caller expects */
    ENTQ_ERR_CODEBOOK,         /* a present symbol dequantises to inf/NaN */
    ENTQ_ERR_SCALES,           /* a row scale is negative or not finite */
    ENTQ_ERR_TABLE,            /* symbol set or frequencies malformed */
    ENTQ_ERR_INDEX,            /* segment offsets malformed */
    ENTQ_ERR_SIZE,             /* sections do not add up to the buffer size */
    ENTQ_ERR_PAYLOAD,          /* a segment's words or final states are wrong */
    ENTQ_ERR_EMPTY,            /* a tensor with no elements */
    ENTQ_ERR_ARG,              /* bad argument to an encoder/decoder call */
    ENTQ_ERR_TOO_LARGE,        /* a count beyond what the format can index */
    ENTQ_ERR_CHECKSUM          /* the CRC-32C does not match: bytes were altered */
};

static inline const char *entq_status_str(int status) {
    switch (status) {
    case ENTQ_OK: return "ok";
    case ENTQ_ERR_TRUNCATED: return "stream is truncated";
    case ENTQ_ERR_MAGIC: return "not an ENTQ stream (bad magic)";
    case ENTQ_ERR_VERSION: return "unsupported ENTQ format version";
    case ENTQ_ERR_HEADER: return "header field out of range";
    case ENTQ_ERR_SHAPE: return "stream shape does not match the tensor";
    case ENTQ_ERR_CODEBOOK: return "codebook maps a present symbol to inf/NaN";
    case ENTQ_ERR_SCALES: return "row scale negative or not finite";
    case ENTQ_ERR_TABLE: return "frequency table malformed";
    case ENTQ_ERR_INDEX: return "segment index malformed";
    case ENTQ_ERR_SIZE: return "stream size does not match its sections";
    case ENTQ_ERR_PAYLOAD: return "segment payload corrupt";
    case ENTQ_ERR_EMPTY: return "tensor is empty (K or N is 0)";
    case ENTQ_ERR_ARG: return "invalid argument";
    case ENTQ_ERR_TOO_LARGE: return "tensor too large for the ENTQ format";
    case ENTQ_ERR_CHECKSUM: return "checksum mismatch (stream bytes altered)";
    default: return "unknown ENTQ status";
    }
}

/* ---- little-endian loads/stores that never assume alignment ---- */

ENTQ_HD static inline uint16_t entq_rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
ENTQ_HD static inline uint32_t entq_rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void entq_wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void entq_wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* ---- f16/f32 bit conversions (IEEE binary16, round to nearest even) ---- */

ENTQ_HD static inline float entq_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}
ENTQ_HD static inline uint32_t entq_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

ENTQ_HD static inline float entq_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return entq_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        /* subnormal: man * 2^-24, exact in f32 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return entq_bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

ENTQ_HD static inline uint16_t entq_f32_to_f16(float f) {
    uint32_t u = entq_f32_bits(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t absu = u & 0x7fffffffu;
    if (absu >= 0x7f800000u) /* inf or NaN (keep NaN quiet) */
        return (uint16_t)(sign | 0x7c00 | (absu > 0x7f800000u ? 0x200 : 0));
    if (absu >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds past 65504 */
    if (absu < 0x38800000u) {
        /* result is subnormal or zero: scale so the ulp is 1 and round */
        if (absu < 0x33000000u) return (uint16_t)sign; /* below half the smallest subnormal */
        uint32_t man = (absu & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - (absu >> 23); /* 14..24 */
        uint32_t half = 1u << (shift - 1);
        uint32_t r = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = absu - 0x38000000u; /* rebias exponent 127 -> 15 */
    uint32_t rem = r & 0x1fff;
    r >>= 13;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

/* ---- the implied codebooks ---- */

/* E4M3 (OCP FP8): 1 sign, 4 exponent (bias 7), 3 mantissa bits; S.1111.111 is
 * NaN, there are no infinities, the largest finite magnitude is 448. */
ENTQ_HD static inline float entq_e4m3_to_f32(uint8_t c) {
    uint32_t e = (c >> 3) & 0xf, m = c & 7;
    float v;
    if (e == 0xf && m == 7) return entq_bits_f32(0x7fc00000u);
    if (e == 0) v = (float)m * (1.0f / 512.0f);              /* m * 2^-9 */
    else v = entq_bits_f32(((e + 120) << 23) | (m << 20));   /* (1 + m/8) * 2^(e-7) */
    return (c & 0x80) ? -v : v;
}

ENTQ_HD static inline float entq_int8_to_f32(uint8_t c) { return (float)(int8_t)c; }

/* ---- the parsed view of a stream ---- */

typedef struct entq_info {
    uint32_t version, code_kind, prob_bits, n_sym;
    uint32_t K, N, rows_per_seg, n_seg;
    uint32_t n_expert;        /* 0: one matrix; else N / n_expert rows per expert */
    float scale_base;
    uint64_t size;            /* the whole stream's bytes */
    uint64_t codebook_off;    /* 0 when the codebook is implied */
    uint64_t scales_off;      /* N x f16 */
    uint64_t index_off;       /* n_seg x u32 */
    uint64_t payload_off;
    uint32_t payload_bytes;
    uint8_t symbols[256];     /* present symbols, ascending */
    uint32_t freq[256];       /* indexed by symbol; 0 for absent symbols */
    uint32_t cum[256];        /* cumulative frequency of symbols below */
} entq_info;

static inline uint32_t entq_segment_rows(const entq_info *in, uint32_t seg) {
    uint32_t r0 = seg * in->rows_per_seg;
    uint32_t left = in->N - r0;
    return left < in->rows_per_seg ? left : in->rows_per_seg;
}

/* Bytes a varint needs for v (LEB128, 7 bits per byte). */
static inline uint32_t entq_varint_bytes(uint32_t v) {
    uint32_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

/* Size of sections 2-5 for a given table, used by the encoder to pick prob_bits. */
static inline uint64_t entq_table_bytes(uint32_t n_sym, const uint8_t *symbols, const uint32_t *freq) {
    uint64_t b = n_sym <= ENTQ_SYMBOL_LIST_MAX ? n_sym : 32;
    for (uint32_t i = 0; i + 1 < n_sym; i++) b += entq_varint_bytes(freq[symbols[i]] - 1);
    return b;
}

static inline float entq_codebook_value(const entq_info *in, const uint8_t *buf, uint32_t code) {
    switch (in->code_kind) {
    case ENTQ_CODES_E4M3: return entq_e4m3_to_f32((uint8_t)code);
    case ENTQ_CODES_INT8: return entq_int8_to_f32((uint8_t)code);
    default: return entq_f16_to_f32(entq_rd16(buf + in->codebook_off + 2 * code));
    }
}

static inline float entq_row_scale(const entq_info *in, const uint8_t *buf, uint32_t row) {
    return in->scale_base * entq_f16_to_f32(entq_rd16(buf + in->scales_off + 2 * (uint64_t)row));
}

static inline int entq_isfinite(float f) { return (entq_f32_bits(f) & 0x7f800000u) != 0x7f800000u; }

/* The fixed header alone (section 1): enough to learn the version and shape
 * from a stream's first ENTQ_FIXED_HEADER_BYTES bytes. */
static inline int entq_parse_fixed(const uint8_t *buf, uint64_t size, entq_info *in) {
    memset(in, 0, sizeof(*in));
    if (size < 4) return ENTQ_ERR_TRUNCATED;
    if (memcmp(buf, ENTQ_MAGIC, 4) != 0) return ENTQ_ERR_MAGIC;
    if (size < ENTQ_FIXED_HEADER_BYTES) return ENTQ_ERR_TRUNCATED;
    in->version = entq_rd16(buf + 4);
    if (in->version != ENTQ_VERSION) return ENTQ_ERR_VERSION;
    in->code_kind = buf[6];
    in->prob_bits = buf[7];
    in->K = entq_rd32(buf + 8);
    in->N = entq_rd32(buf + 12);
    in->rows_per_seg = entq_rd32(buf + 16);
    in->scale_base = entq_bits_f32(entq_rd32(buf + 20));
    in->n_sym = entq_rd16(buf + 24);
    in->payload_bytes = entq_rd32(buf + 28);
    in->size = size;
    if (in->code_kind >= ENTQ_CODES_COUNT) return ENTQ_ERR_HEADER;
    if (in->prob_bits < ENTQ_MIN_PROB_BITS || in->prob_bits > ENTQ_MAX_PROB_BITS) return ENTQ_ERR_HEADER;
    if (in->K == 0 || in->N == 0) return ENTQ_ERR_EMPTY;
    if (in->rows_per_seg == 0 || in->rows_per_seg > in->N) return ENTQ_ERR_HEADER;
    if (!entq_isfinite(in->scale_base) || !(in->scale_base > 0.0f)) return ENTQ_ERR_HEADER;
    if (in->n_sym < 1 || in->n_sym > 256) return ENTQ_ERR_HEADER;
    in->n_expert = entq_rd16(buf + 26);
    if (in->n_expert && (in->N % in->n_expert || (in->N / in->n_expert) % in->rows_per_seg)) return ENTQ_ERR_HEADER;
    in->n_seg = (uint32_t)(((uint64_t)in->N + in->rows_per_seg - 1) / in->rows_per_seg);
    return ENTQ_OK;
}

/* Parses and checks everything but the payload words: every section lies in
 * [0, size), the table sums to 2^prob_bits with no zero for a present symbol,
 * the index is increasing and ends at the payload's end, the sizes add up to
 * exactly `size`. After ENTQ_OK any decoder may index the stream freely. */
static inline int entq_parse(const uint8_t *buf, uint64_t size, entq_info *in) {
    int st = entq_parse_fixed(buf, size, in);
    if (st != ENTQ_OK) return st;

    uint64_t off = ENTQ_FIXED_HEADER_BYTES;
    if (in->code_kind == ENTQ_CODES_CUSTOM) {
        if (size - off < 512) return ENTQ_ERR_TRUNCATED;
        in->codebook_off = off;
        off += 512;
    }
    if (size - off < 2 * (uint64_t)in->N) return ENTQ_ERR_TRUNCATED;
    in->scales_off = off;
    for (uint32_t r = 0; r < in->N; r++) {
        float s = entq_f16_to_f32(entq_rd16(buf + off + 2 * (uint64_t)r));
        if (!entq_isfinite(s) || s < 0.0f) return ENTQ_ERR_SCALES;
    }
    off += 2 * (uint64_t)in->N;

    /* symbol set */
    if (in->n_sym <= ENTQ_SYMBOL_LIST_MAX) {
        if (size - off < in->n_sym) return ENTQ_ERR_TRUNCATED;
        for (uint32_t i = 0; i < in->n_sym; i++) {
            in->symbols[i] = buf[off + i];
            if (i > 0 && in->symbols[i] <= in->symbols[i - 1]) return ENTQ_ERR_TABLE;
        }
        off += in->n_sym;
    } else {
        if (size - off < 32) return ENTQ_ERR_TRUNCATED;
        uint32_t n = 0;
        for (uint32_t s = 0; s < 256; s++)
            if (buf[off + s / 8] & (1u << (s % 8))) {
                if (n == in->n_sym) return ENTQ_ERR_TABLE;
                in->symbols[n++] = (uint8_t)s;
            }
        if (n != in->n_sym) return ENTQ_ERR_TABLE;
        off += 32;
    }

    /* frequencies */
    const uint32_t total = 1u << in->prob_bits;
    uint32_t sum = 0;
    for (uint32_t i = 0; i + 1 < in->n_sym; i++) {
        uint32_t v = 0, shift = 0;
        for (;;) {
            if (off >= size) return ENTQ_ERR_TRUNCATED;
            uint8_t byte = buf[off++];
            if (shift > 14) return ENTQ_ERR_TABLE; /* more than 3 bytes cannot be < 2^15 */
            v |= (uint32_t)(byte & 0x7f) << shift;
            shift += 7;
            if (!(byte & 0x80)) break;
        }
        uint32_t f = v + 1;
        if (f >= total || sum + f >= total) return ENTQ_ERR_TABLE; /* leave >= 1 for the last */
        in->freq[in->symbols[i]] = f;
        sum += f;
    }
    in->freq[in->symbols[in->n_sym - 1]] = total - sum;
    for (uint32_t s = 0, c = 0; s < 256; s++) {
        in->cum[s] = c;
        c += in->freq[s];
    }

    float vmax = 0.0f; /* the largest |codebook value| present */
    for (uint32_t i = 0; i < in->n_sym; i++) { /* E4M3 has NaN codes; custom codebooks may too */
        float v = entq_codebook_value(in, buf, in->symbols[i]);
        if (!entq_isfinite(v)) return ENTQ_ERR_CODEBOOK;
        v = entq_bits_f32(entq_f32_bits(v) & 0x7fffffffu);
        if (v > vmax) vmax = v;
    }
    /* every dequantised value finite, computed as decoders do: codebook[code] * (scale_base * row_scale) */
    for (uint32_t r = 0; r < in->N; r++) {
        float s = entq_row_scale(in, buf, r);
        if (!entq_isfinite(s) || !entq_isfinite(vmax * s)) return ENTQ_ERR_SCALES;
    }

    /* padding, index */
    while (off % 4) {
        if (off >= size) return ENTQ_ERR_TRUNCATED;
        if (buf[off++] != 0) return ENTQ_ERR_TABLE;
    }
    if ((size - off) / 4 < in->n_seg) return ENTQ_ERR_TRUNCATED;
    in->index_off = off;
    off += 4 * (uint64_t)in->n_seg;
    in->payload_off = off;
    if (size - off != in->payload_bytes) return size - off < in->payload_bytes ? ENTQ_ERR_TRUNCATED : ENTQ_ERR_SIZE;

    uint32_t prev = 0;
    for (uint32_t s = 0; s < in->n_seg; s++) {
        uint32_t end = entq_rd32(buf + in->index_off + 4 * (uint64_t)s);
        if (end % 4 || end < prev + ENTQ_SEGMENT_STATE_BYTES || end > in->payload_bytes) return ENTQ_ERR_INDEX;
        prev = end;
    }
    if (prev != in->payload_bytes) return ENTQ_ERR_INDEX;
    return ENTQ_OK;
}

/* entq_parse() plus the shape the caller expects (a loader knows [K, N]). */
static inline int entq_parse_shape(const uint8_t *buf, uint64_t size, uint32_t K, uint32_t N, entq_info *in) {
    int st = entq_parse(buf, size, in);
    if (st == ENTQ_OK && (in->K != K || in->N != N)) return ENTQ_ERR_SHAPE;
    return st;
}

/* CRC-32C of the stream with the checksum field left out. */
static inline uint32_t entq_stream_crc(const uint8_t *buf, uint64_t size) {
    uint32_t crc = entq_crc32c(0, buf, ENTQ_CRC_OFFSET);
    return entq_crc32c(crc, buf + ENTQ_FIXED_HEADER_BYTES, (size_t)(size - ENTQ_FIXED_HEADER_BYTES));
}

/* The checksum test: a pass over every byte, so loaders may choose when to pay it. */
static inline int entq_check_crc(const uint8_t *buf, uint64_t size) {
    if (size < ENTQ_FIXED_HEADER_BYTES) return ENTQ_ERR_TRUNCATED;
    return entq_stream_crc(buf, size) == entq_rd32(buf + ENTQ_CRC_OFFSET) ? ENTQ_OK : ENTQ_ERR_CHECKSUM;
}

/* Start/end of segment `seg` as byte offsets into the stream. Valid after entq_parse. */
static inline void entq_segment_range(const entq_info *in, const uint8_t *buf, uint32_t seg, uint64_t *start, uint64_t *end) {
    uint32_t s = seg == 0 ? 0 : entq_rd32(buf + in->index_off + 4 * (uint64_t)(seg - 1));
    uint32_t e = entq_rd32(buf + in->index_off + 4 * (uint64_t)seg);
    *start = in->payload_off + s;
    *end = in->payload_off + e;
}

#endif /* ENTQ_FORMAT_H */
