/* entq_cpu_buffer.h - "CPU_ENTQ", the ggml-cpu extra buffer type that holds
 * coded weights in the CPU layout (entq_cpu_layout.h), repacked from the
 * file's ENTQ stream when the loader sets the tensor's data.
 *
 * A coded weight (the 1-D blob; its [K, N] view shares the data) occupies an
 * entq_cpu_weight record in the buffer; the layout itself is allocated apart,
 * at its exact size, because a layout's size is known only once the stream
 * has been decoded, while ggml sizes a buffer before any data is loaded. The
 * buffer frees the layouts with itself.
 *
 * A stream whose layout would be larger than ENTQ_CPU_MAX_GROWTH x its bytes,
 * or whose values are not one int8 grid, is kept as a copy of the stream and
 * runs on the rANS path. ENTGGUF_CPU_LAYOUT=0 in the environment turns the
 * buffer type off: coded weights then stay in plain CPU buffers (mmap-able)
 * and always run on the rANS path.
 */
#ifndef ENTQ_CPU_BUFFER_H
#define ENTQ_CPU_BUFFER_H

#include <stdint.h>

#include "ggml-backend.h"

#define ENTQ_CPU_WEIGHT_MAGIC 0x57515445u  /* "ETQW" read as a little-endian u32 */
#define ENTQ_CPU_MAX_GROWTH 1.05

#ifdef __cplusplus
extern "C" {
#endif

/* What a CPU_ENTQ buffer holds in place of a coded weight's stream. */
struct entq_cpu_weight {
    uint32_t magic;         /* ENTQ_CPU_WEIGHT_MAGIC */
    uint32_t is_layout;     /* data is an entq_layout; else a copy of the ENTQ stream */
    const uint8_t * data;
    uint64_t bytes;
};

/* The buffer type, or NULL when ENTGGUF_CPU_LAYOUT=0. */
ggml_backend_buffer_type_t entq_cpu_buffer_type(void);

#ifdef __cplusplus
}
#endif

#endif /* ENTQ_CPU_BUFFER_H */
