/* The format library must stay plain C99 (it is included by C, C++, CUDA and
 * mirrored in Metal): this file is compiled as C with warnings as errors. */
#include "stream/entq_decode.h"
#include "stream/entq_encode.h"

int entq_c_compile_check(void) {
    entq_info in;
    return entq_parse((const uint8_t *)"", 0, &in) == ENTQ_ERR_TRUNCATED ? 0 : 1;
}
