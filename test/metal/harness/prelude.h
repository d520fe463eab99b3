// What ggml-metal-device.m's supports_op needs to compile as C on a machine
// without Metal: ggml's headers, our glue's C API, and a device that has only
// its props.
#include <stdbool.h>

#include "ggml.h"
#include "ggml-impl.h"
#include "ggml-metal-common.h"
#include "ggml-metal-impl.h"
#include "metal/entq_ggml_metal.h"

struct ggml_metal_device {
    struct {
        bool has_simdgroup_mm, has_simdgroup_reduction, has_bfloat;
    } props;
};
