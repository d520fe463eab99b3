// llama_load_check - loads one GGUF through llama.cpp's C API (no JavaScript in between) and evaluates a prompt,
// for the mutated-file pass under AddressSanitizer and UBSan (scripts/asan-mutants.sh): each damaged file must
// be refused (exit 2, llama.cpp's error lines on stdout) or give the original's logits; anything else (a sanitizer
// report, a signal, another exit code) is a finding.
//
// Usage: llama_load_check <model.gguf> [token ids, comma-separated]
//   Without ids it tokenizes "Once upon a time" (with BOS) and prints them ("tokens 1,2,3"), so that mutants are
//   evaluated on the original's ids: a damaged vocabulary must not change what is evaluated.
//   Prints "logits <FNV-1a 64 of the logits' bytes> <count>" after evaluating with logits for every token.
#include "llama.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

std::string g_errors;

void on_log(ggml_log_level level, const char * text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR) g_errors += text;
}

uint64_t fnv1a(const void * data, size_t n, uint64_t h = 1469598103934665603ull) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *) data)[i]) * 1099511628211ull;
    return h;
}

}  // namespace

int main(int argc, char ** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <model.gguf> [token ids, comma-separated]\n", argv[0]);
        return 64;
    }
    llama_log_set(on_log, nullptr);
    llama_backend_init();

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (model == nullptr) {
        std::printf("refused: %s", g_errors.c_str());
        llama_backend_free();
        return 2;
    }

    std::vector<llama_token> tokens;
    if (argc > 2) {
        for (const char * p = argv[2]; *p;) {
            char * end = nullptr;
            tokens.push_back((llama_token) std::strtol(p, &end, 10));
            p = *end == ',' ? end + 1 : end;
        }
    } else {
        const char * text = "Once upon a time";
        tokens.resize(64);
        const int n = llama_tokenize(llama_model_get_vocab(model), text, (int) std::strlen(text), tokens.data(), (int) tokens.size(), true, false);
        tokens.resize(n > 0 ? n : 0);
        std::printf("tokens ");
        for (size_t i = 0; i < tokens.size(); i++) std::printf("%s%d", i ? "," : "", tokens[i]);
        std::printf("\n");
    }

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 16;
    cp.n_ubatch = 16;
    cp.n_threads = cp.n_threads_batch = 2;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (ctx == nullptr) {
        std::printf("no context: %s", g_errors.c_str());
        llama_model_free(model);
        return 3;
    }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    llama_batch batch = llama_batch_init((int32_t) tokens.size(), 0, 1);
    for (size_t i = 0; i < tokens.size(); i++) {
        batch.token[i] = tokens[i];
        batch.pos[i] = (llama_pos) i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = (int32_t) tokens.size();
    int rc = 0;
    if (const int st = llama_decode(ctx, batch); st != 0) {
        std::printf("decode failed (%d): %s", st, g_errors.c_str());
        rc = 3;
    } else {
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < tokens.size(); i++) h = fnv1a(llama_get_logits_ith(ctx, (int32_t) i), sizeof(float) * n_vocab, h);
        std::printf("logits %016llx %zu\n", (unsigned long long) h, tokens.size() * (size_t) n_vocab);
    }
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return rc;
}
