// entq_dequantize_gguf - a coded GGUF's weights back as plain F16 (or F32)
// tensors, every other tensor and key copied, the entq.* keys dropped: the
// input that llama.cpp's own tools (llama-quantize, llama-bench) take, made
// where no Node is at hand (scripts/gpu-check.sh makes its Q4_K_M and Q8_0
// peers of a carried coded model with it). F32 output is exactly entgguf
// convert's --emit-dequantized reference. Built against the patched ggml,
// whose GGUF reader knows GGML_TYPE_ENTQ.
//   entq_dequantize_gguf <coded.gguf> <out.gguf> [--f32]
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ggml.h"
#include "gguf.h"

#include "ggml/entq_ggml.h"
#include "stream/entq_decode.h"

namespace {

int fail(const std::string & what) {
    std::fprintf(stderr, "entq_dequantize_gguf: %s\n", what.c_str());
    return 1;
}

}  // namespace

int main(int argc, char ** argv) {
    if (argc < 3 || argc > 4 || (argc == 4 && std::strcmp(argv[3], "--f32") != 0))
        return fail("usage: entq_dequantize_gguf <coded.gguf> <out.gguf> [--f32]");
    const std::string src = argv[1], dst = argv[2];
    const ggml_type out_type = argc == 4 ? GGML_TYPE_F32 : GGML_TYPE_F16;

    ggml_context * data = nullptr;
    gguf_init_params ip = {/*no_alloc*/ false, &data};
    gguf_context * in = gguf_init_from_file(src.c_str(), ip);
    if (!in) return fail(src + ": not a readable GGUF (see the message above)");

    // sizes of the new tensors: one pass to learn them, then one context that holds them all
    size_t bytes = 0;
    const int64_t n = gguf_get_n_tensors(in);
    std::vector<entq_info> infos(n);
    for (int64_t i = 0; i < n; i++) {
        const ggml_tensor * t = ggml_get_tensor(data, gguf_get_tensor_name(in, i));
        if (t->type != GGML_TYPE_ENTQ) continue;
        const int st = entq_parse((const uint8_t *) t->data, ggml_nbytes(t), &infos[i]);
        if (st != ENTQ_OK) return fail(src + ": tensor '" + t->name + "': " + entq_status_str(st));
        bytes += ggml_row_size(out_type, infos[i].K) * infos[i].N + ggml_tensor_overhead();
    }
    ggml_init_params cp = {bytes + ggml_tensor_overhead(), nullptr, false};
    ggml_context * made = ggml_init(cp);

    gguf_context * out = gguf_init_empty();
    gguf_set_kv(out, in);
    for (int64_t k = gguf_get_n_kv(out) - 1; k >= 0; k--) {
        const std::string key = gguf_get_key(out, k);
        if (key.rfind("entq.", 0) == 0) gguf_remove_key(out, key.c_str());
    }
    static entq_dtable table;
    std::vector<float> values;
    std::vector<uint8_t> row;
    int coded = 0;
    for (int64_t i = 0; i < n; i++) {
        ggml_tensor * t = ggml_get_tensor(data, gguf_get_tensor_name(in, i));
        if (t->type != GGML_TYPE_ENTQ) {
            gguf_add_tensor(out, t);
            continue;
        }
        const entq_info & e = infos[i];
        const uint8_t * buf = (const uint8_t *) t->data;
        values.resize((size_t) e.K * e.N);
        row.resize(e.K);
        entq_build_dtable(&e, buf, &table);
        const int st = entq_decode_dequantize(&e, buf, &table, 0, e.n_seg, values.data(), row.data());
        if (st != ENTQ_OK) return fail(src + ": tensor '" + t->name + "': " + entq_status_str(st));
        // a stack of experts keeps its [K, N, E] shape (the model asks for it)
        ggml_tensor * w = e.n_expert ? ggml_new_tensor_3d(made, out_type, e.K, e.N / e.n_expert, e.n_expert)
                                     : ggml_new_tensor_2d(made, out_type, e.K, e.N);
        ggml_set_name(w, t->name);
        if (out_type == GGML_TYPE_F32) std::memcpy(w->data, values.data(), values.size() * sizeof(float));
        else ggml_fp32_to_fp16_row(values.data(), (ggml_fp16_t *) w->data, (int64_t) values.size());
        gguf_add_tensor(out, w);
        coded++;
    }
    // written beside the target, renamed when complete
    const std::string tmp = dst + ".tmp";
    if (!gguf_write_to_file(out, tmp.c_str(), false)) {
        std::remove(tmp.c_str());
        return fail(dst + ": cannot write");
    }
    if (std::rename(tmp.c_str(), dst.c_str()) != 0) {
        std::remove(tmp.c_str());
        return fail(dst + ": cannot rename " + tmp + " to it");
    }
    std::printf("%s: %d coded tensors as %s, %lld tensors in all -> %s\n", src.c_str(), coded, ggml_type_name(out_type),
                (long long) n, dst.c_str());
    gguf_free(out);
    gguf_free(in);
    ggml_free(made);
    ggml_free(data);
    return 0;
}
