#!/usr/bin/env bash
# The mutated-file pass under AddressSanitizer + UBSan (issue 17, item 5): builds the patched llama.cpp (libllama,
# ggml, ggml-cpu with entgguf's native code; static, -O1 -g) with -fsanitize=address,undefined and
# -fno-sanitize-recover=all into .cache/asan/, links native/ggml/test/llama_load_check.cpp against it, and loads every
# mutant of scripts/asanMutants.ts through it, one process per file (no JavaScript in between: llama.cpp meets the
# damage itself). The first build takes 15-25 min on 2 cores; later runs rebuild only what changed.
# Built with -DNDEBUG, as the runtime is (Release); ASSERTS=1 keeps C asserts (a second build, .cache/asan/; the default one is .cache/asan-ndebug/):
# there ggml's debug-only assert(size >= ggml_nbytes(tensor)) in ggml_backend_buft_get_alloc_size fires for every
# weight held by the CPU_ENTQ buffer (a 64-byte record per weight; the layout lives apart), so use --rans with it.
# Usage: bash scripts/asan-mutants.sh [--flips N] [--truncations N|all] [--seed S] [--rans]   (JOBS=2 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs="${JOBS:-2}"
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
if [ "${ASSERTS:-0}" = 1 ]; then out="$root/.cache/asan"; opt="-O1 -g"; else out="$root/.cache/asan-ndebug"; opt="-O1 -g -DNDEBUG"; fi

# the patched source (unpacked and patched as for the runtime; builds nothing new when the runtime build exists)
node dist/bin/entgguf.js build >&2
src=$(node --input-type=module -e "import { resolveEntLlamaBuild } from '$root/dist/src/index.js'; console.log((await resolveEntLlamaBuild({ log() {} })).source.dir)")

cmake -S "$src" -B "$out/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="$opt $san" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$opt $san" \
    -DENTGGUF_NATIVE_DIR="$root/native" -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF >&2
cmake --build "$out/build" --target llama -j "$jobs" >&2
libs=$(find "$out/build" -name 'libllama.a' -o -name 'libggml.a' -o -name 'libggml-cpu.a' -o -name 'libggml-base.a' | sort -r)
# order: llama, then ggml (the backend registry), ggml-cpu, ggml-base
c++ -std=c++17 $opt $san -I "$src/include" -I "$src/ggml/include" native/ggml/test/llama_load_check.cpp \
    $(echo "$libs" | grep libllama.a) $(echo "$libs" | grep '/libggml.a') $(echo "$libs" | grep libggml-cpu.a) \
    $(echo "$libs" | grep libggml-base.a) -lpthread -ldl -lm -o "$out/llama_load_check"

ASAN_OPTIONS="detect_leaks=0:exitcode=86" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87" \
    node dist/scripts/asanMutants.js --loader "$out/llama_load_check" "$@"
