// What the glue harness's Metal stand-in (glue_stub.cpp) records, for
// glue_main.cpp to check.
#pragma once
#include <string>
#include <vector>

#include "ggml-metal-device.h"

namespace entq_glue_stub {

struct State {
    bool has_simdgroup_mm = true;                    // the device's props
    ggml_metal_device_t failing_device = nullptr;    // whose library does not build
    int library_builds = 0;
    int live_buffers = 0;                            // Metal buffers allocated and not freed
    std::vector<std::string> dispatches;             // pipeline names, in order
    std::vector<std::string> problems;               // what a GPU would not have run as intended
};

State & state();
ggml_metal_encoder_t new_encoder();
void free_encoder(ggml_metal_encoder_t e);

}  // namespace entq_glue_stub

namespace entq_glue_stub {
ggml_metal_library_t ggml_library(ggml_metal_device_t dev);  // ggml's own library, every kernel in it
}
