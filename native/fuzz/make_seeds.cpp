// make_seeds <dir>: writes the fuzz harnesses' seed corpora into
// <dir>/<target>/, from tensors coded by the real encoder (the shapes,
// distributions and code kinds of native/test/stream_corpus.h). Seeds are
// made at run time (scripts/fuzz.sh), never committed; scripts/fuzzSeeds.mjs
// adds streams and weights of a real model when one is at hand.
#include <cmath>
#include <cstdio>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "../test/stream_corpus.h"
#include "fuzz/fuzz_check.h"

namespace {

std::string root;
int written = 0;

void put(const std::string &target, const std::string &name, const std::vector<uint8_t> &bytes) {
    const std::string dir = root + "/" + target;
    mkdir(dir.c_str(), 0755);
    const std::string path = dir + "/" + name;
    FILE *f = std::fopen(path.c_str(), "wb");
    if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
        std::fprintf(stderr, "make_seeds: cannot write %s\n", path.c_str());
        std::exit(1);
    }
    written++;
}

const char *const STREAM_TARGETS[] = {"stream_parse", "reference_decode", "avx2_decode", "cpu_repack"};

void put_stream(const std::string &name, const std::vector<uint8_t> &s) {
    if (s.empty()) {
        std::fprintf(stderr, "make_seeds: encoding %s failed\n", name.c_str());
        std::exit(1);
    }
    for (const char *t : STREAM_TARGETS) put(t, name, s);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds <dir>\n");
        return 2;
    }
    root = argv[1];
    mkdir(root.c_str(), 0755);

    // coded streams: shapes around the lane and segment edges, every code kind, several tables
    struct Shape { uint32_t K, N, seg; };
    const Shape shapes[] = {{1, 1, 0}, {31, 1, 0}, {32, 2, 0}, {33, 3, 64}, {64, 16, 256}, {100, 7, 1},
                            {257, 9, 512}, {64, 172, 0}, {4096, 2, 1024}};
    const Dist dists[] = {Dist::Laplace, Dist::One, Dist::TwoRare, Dist::All256, Dist::Uniform};
    const char *dist_names[] = {"laplace", "one", "tworare", "all256", "uniform"};
    uint64_t seed = 1;
    for (const Shape &s : shapes)
        for (uint32_t kind = 0; kind < 2; kind++)
            for (int d = 0; d < 5; d++) {
                if ((uint64_t)s.K * s.N > FUZZ_MAX_SYMBOLS) continue;
                const auto codes = makeCodes((uint64_t)s.K * s.N, dists[d], kind, seed++);
                const uint32_t pb = d == 0 && s.K == 64 ? 14 : 0;  // one seed per shape at the widest table
                char name[96];
                std::snprintf(name, sizeof name, "%s-%ux%u-seg%u-%s%s", kind ? "int8" : "e4m3", s.K, s.N, s.seg, dist_names[d],
                              pb ? "-b14" : "");
                put_stream(name, encodeCodes(s.K, s.N, codes, kind, s.seg, pb));
            }
    // custom codebooks: an integer grid (the CPU layout takes it) and one that is not
    for (int grid = 0; grid < 2; grid++) {
        std::vector<uint16_t> book(256);
        for (int i = 0; i < 256; i++) book[i] = entq_f32_to_f16(grid ? (float)((int8_t)i) * 0.25f : std::sin((float)i) * 3.0f);
        const auto codes = makeCodes(64 * 24, Dist::Laplace, ENTQ_CODES_INT8, seed++);
        put_stream(grid ? "custom-grid-64x24" : "custom-free-64x24", encodeCodes(64, 24, codes, ENTQ_CODES_CUSTOM, 256, 0, book.data()));
    }

    // encode: [kind][prob_bits][segment symbols u16][N-1][K-1][scale_base f32][N f16 scales][codebook][codes]
    for (uint32_t kind = 0; kind < 3; kind++)
        for (int v = 0; v < 4; v++) {
            const uint32_t N = 1 + 11 * v, K = 1 + 37 * v;
            std::vector<uint8_t> in = {(uint8_t)kind, (uint8_t)(v * 3), (uint8_t)(v * 40), 0, (uint8_t)(N - 1), (uint8_t)(K - 1)};
            const uint32_t base = entq_f32_bits(std::ldexp(1.0f, -v - 3));
            for (int i = 0; i < 4; i++) in.push_back((uint8_t)(base >> (8 * i)));
            for (uint32_t r = 0; r < N; r++) {
                const uint16_t h = entq_f32_to_f16(0.5f + 0.01f * r);
                in.push_back((uint8_t)h);
                in.push_back((uint8_t)(h >> 8));
            }
            if (kind == ENTQ_CODES_CUSTOM)
                for (int i = 0; i < 256; i++) {
                    const uint16_t h = entq_f32_to_f16((float)(i - 128) / 16.0f);
                    in.push_back((uint8_t)h);
                    in.push_back((uint8_t)(h >> 8));
                }
            const auto codes = makeCodes((uint64_t)K * N, dists[v], kind == ENTQ_CODES_INT8 ? 1 : 0, seed++);
            in.insert(in.end(), codes.begin(), codes.end());
            char name[64];
            std::snprintf(name, sizeof name, "kind%u-%ux%u", kind, K, N);
            put("encode", name, in);
        }

    // quantize: [flags][N-1][K-1][lambda][target][segment symbols][f32 weights]: Gaussian-like rows with an outlier or two
    for (int v = 0; v < 12; v++) {
        const uint32_t N = 1 + (v * 5) % 24, K = 1 + (v * 29) % 96;
        std::vector<uint8_t> in = {(uint8_t)v, (uint8_t)(N - 1), (uint8_t)(K - 1), (uint8_t)(16 + v), (uint8_t)(40 + 8 * v),
                                   (uint8_t)(v % 2 ? 200 : 0)};
        entq_test::Rng rng(seed++);
        for (uint64_t i = 0; i < (uint64_t)N * K; i++) {
            double g = 0;
            for (int j = 0; j < 4; j++) g += rng.uniform() - 0.5;  // ~Gaussian
            float w = (float)(g * 0.05 * (1 + (i / K) % 3));
            if (i == 7 && v % 3 == 0) w = 2.5f;
            const uint32_t b = entq_f32_bits(w);
            for (int k = 0; k < 4; k++) in.push_back((uint8_t)(b >> (8 * k)));
        }
        char name[64];
        std::snprintf(name, sizeof name, "weights-%u-%ux%u", v, K, N);
        put("quantize", name, in);
    }
    std::printf("make_seeds: %d seed files in %s\n", written, root.c_str());
    return 0;
}
