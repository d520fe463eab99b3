#!/usr/bin/env bash
# GPU check of the ENTQ CUDA kernels, for a machine with an NVIDIA GPU, CUDA's
# nvcc and no Node: builds native/cuda for this GPU's architecture, dumps the
# GEMV's SASS, runs the small correctness cases under compute-sanitizer
# (memcheck) when it is installed, then the full check (NMSE per case against
# an f64 reference, bit-exactness with the CPU twins, timings of the older
# in-place kernels and the lane-stream ones side by side, against plain
# int8/f16 GEMVs) and prints its table last.
#   scripts/gpu-check.sh            everything
#   scripts/gpu-check.sh --quick    small correctness cases only
#   ENTQ_NCU=1 scripts/gpu-check.sh  also profile the B=1 GEMV with Nsight Compute
#   scripts/gpu-check.sh --llama    the patched llama.cpp with CUDA instead: builds it from
#       .cache/gpu-carry (made here by `node scripts/gpu-carry.mjs`, carried to the device),
#       runs native/ggml/test/entq_ggml_gpu_test.cpp (ggml mul_mat on CUDA vs CPU vs f64:
#       NMSE per case, batch 1, 2, 8, 32, 512, odd K; with the lane-stream layout and again with
#       ENTGGUF_CUDA_LAYOUT=0), makes F16 / Q4_K_M / Q8_0 peers of the carried coded model and
#       runs llama-bench on all of them (pp512, tg128, all layers on the GPU), then the coded
#       model again with ENTGGUF_CUDA_LAYOUT=0; the markdown tables go to $LOG/llama-bench*.md.
# Logs go to $OUT when set (the device tool's output folder), else build/gpu-check.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-build/gpu-check}
BIN=build/cuda
mkdir -p "$LOG" "$BIN"

command -v nvcc >/dev/null || { echo "gpu-check: nvcc not found (install the CUDA toolkit)"; exit 2; }
nvidia-smi --query-gpu=name,driver_version,compute_cap,clocks.sm,clocks.max.sm,memory.total --format=csv | tee "$LOG/nvidia-smi.txt"
ARCH=${ENTQ_CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')}

# cuBLAS for the large-batch comparison: the toolkit's, else the Python wheel's
CUBLAS=()
CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")}
if [ -f "$CUDA_HOME/include/cublas_v2.h" ] && ls "$CUDA_HOME"/lib64/libcublas.so* >/dev/null 2>&1; then
    CUBLAS=(-DENTQ_HAVE_CUBLAS -lcublas)
else
    WHEEL=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__))' 2>/dev/null || true)
    if [ -n "$WHEEL" ] && [ -f "$WHEEL/include/cublas_v2.h" ]; then
        LIB=$(ls "$WHEEL"/lib/libcublas.so.* | head -1)
        CUBLAS=(-DENTQ_HAVE_CUBLAS -I"$WHEEL/include" "$LIB" -Xlinker -rpath -Xlinker "$WHEEL/lib")
    fi
fi
echo "arch sm_$ARCH, cuBLAS: ${CUBLAS[*]:-none}"

if [ "${1:-}" = "--llama" ]; then
    CARRY=.cache/gpu-carry
    [ -f "$CARRY/src/llama.cpp.tar.gz" ] && ls "$CARRY"/models/entq-*.gguf >/dev/null 2>&1 || {
        echo "gpu-check --llama: $CARRY/src/llama.cpp.tar.gz or $CARRY/models/entq-*.gguf missing:"
        echo "  run 'npm run build && node scripts/gpu-carry.mjs' where Node is, then carry .cache/gpu-carry"; exit 2; }
    command -v cmake >/dev/null || { echo "gpu-check --llama: cmake not found"; exit 2; }
    W=build/gpu-llama
    rm -rf "$W/src" && mkdir -p "$W/src" "$W/models"
    tar xzf "$CARRY/src/llama.cpp.tar.gz" -C "$W/src"
    # the same switches as entgguf's tools build (src/runtime/buildLlamaTools.ts), plus CUDA
    cmake -S "$W/src" -B "$W/build" -DCMAKE_BUILD_TYPE=Release -DENTGGUF_NATIVE_DIR="$PWD/native" -DGGML_NATIVE=ON \
        -DBUILD_SHARED_LIBS=ON -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF \
        -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" > "$LOG/cmake.log" 2>&1 || { tail -40 "$LOG/cmake.log"; exit 2; }
    SECONDS=0
    cmake --build "$W/build" -j "$(nproc)" --target llama-bench llama-quantize > "$LOG/llama-build.log" 2>&1 \
        || { grep -E "error|Error" "$LOG/llama-build.log" | head -30; tail -20 "$LOG/llama-build.log"; exit 2; }
    echo "built llama.cpp + entgguf patches with CUDA sm_$ARCH in ${SECONDS} s"
    BINL="$W/build/bin"
    LIBS=("$BINL"/libggml.so "$BINL"/libggml-base.so)
    c++ -O2 -std=c++17 -I "$W/src/ggml/include" -I native native/ggml/test/entq_ggml_gpu_test.cpp native/test/test_main.cpp \
        "${LIBS[@]}" -Wl,-rpath,"$PWD/$BINL" -o "$BINL/entq_ggml_gpu_test"
    c++ -O2 -std=c++17 -I "$W/src/ggml/include" -I native native/ggml/entq_dequantize_gguf.cpp \
        "${LIBS[@]}" -Wl,-rpath,"$PWD/$BINL" -o "$BINL/entq_dequantize_gguf"
    echo "== ggml mul_mat on CUDA vs CPU vs f64 (native/ggml/test/entq_ggml_gpu_test.cpp), lane-stream layout"
    ENTQ_GPU=CUDA "$BINL/entq_ggml_gpu_test" 2>&1 | tee "$LOG/entq_ggml_cuda_test.log"
    TEST_RC=${PIPESTATUS[0]}
    echo "== the same with ENTGGUF_CUDA_LAYOUT=0 (streams decoded in place, the older kernels)"
    ENTQ_GPU=CUDA ENTGGUF_CUDA_LAYOUT=0 "$BINL/entq_ggml_gpu_test" 2>&1 | tee "$LOG/entq_ggml_cuda_test-inplace.log"
    [ "${PIPESTATUS[0]}" = 0 ] || TEST_RC=1
    CODED=$(ls "$CARRY"/models/entq-*.gguf | head -1)
    "$BINL/entq_dequantize_gguf" "$CODED" "$W/models/f16.gguf"
    for q in Q4_K_M Q8_0; do
        "$BINL/llama-quantize" "$W/models/f16.gguf" "$W/models/$q.gguf" "$q" > "$LOG/quantize-$q.log" 2>&1 \
            || { tail -20 "$LOG/quantize-$q.log"; exit 2; }
    done
    ls -l "$CODED" "$W"/models/*.gguf | awk '{print $5, $NF}'
    echo "== llama-bench (all layers on the GPU, 3 repetitions)"
    "$BINL/llama-bench" -m "$CODED" -m "$W/models/Q4_K_M.gguf" -m "$W/models/Q8_0.gguf" -m "$W/models/f16.gguf" \
        -ngl 99 -p 512 -n 128 -r 3 -o md 2> "$LOG/llama-bench.err" | tee "$LOG/llama-bench.md" \
        || { tail -30 "$LOG/llama-bench.err"; exit 2; }
    echo "== llama-bench, the coded model with ENTGGUF_CUDA_LAYOUT=0 (older kernels, stream in place)"
    ENTGGUF_CUDA_LAYOUT=0 "$BINL/llama-bench" -m "$CODED" -ngl 99 -p 512 -n 128 -r 3 -o md 2> "$LOG/llama-bench-inplace.err" \
        | tee "$LOG/llama-bench-inplace.md" || { tail -30 "$LOG/llama-bench-inplace.err"; exit 2; }
    exit "$TEST_RC"
fi

nvcc -std=c++17 -O3 -arch="sm_$ARCH" -Xptxas -v -Xcompiler -fopenmp -Inative \
    -o "$BIN/gpu_check" native/cuda/gpu_check.cu native/cuda/entq_cuda.cu native/cuda/entq_tile_cuda.cu "${CUBLAS[@]}" > "$LOG/build.log" 2>&1 \
    || { tail -50 "$LOG/build.log"; exit 2; }
grep -A2 "gemv_kernel" "$LOG/build.log" | grep -E "registers|spill" | head -8 || true
if command -v cuobjdump >/dev/null; then
    cuobjdump -sass "$BIN/gpu_check" > "$LOG/gpu_check.sass" 2>&1 || true
fi

if [ "${1:-}" != "--quick" ] && command -v compute-sanitizer >/dev/null; then
    timeout 300 compute-sanitizer --tool memcheck --error-exitcode 3 "$BIN/gpu_check" --quick > "$LOG/memcheck.log" 2>&1 \
        && echo "memcheck: clean (small cases)" \
        || { MEMCHECK_RC=$?; echo "memcheck: FAILED (rc $MEMCHECK_RC)"; tail -30 "$LOG/memcheck.log"; }
fi
if [ -n "${ENTQ_NCU:-}" ] && command -v ncu >/dev/null; then
    # stall reasons and pipe use of the GEMV (4096 x 4096, one row per segment, prob_bits 11 and 14)
    timeout 240 ncu --section WarpStateStats --section SchedulerStats --section Occupancy --section LaunchStats \
        --section MemoryWorkloadAnalysis --section ComputeWorkloadAnalysis --section SourceCounters -k gemv_kernel -c 8 \
        "$BIN/gpu_check" --profile > "$LOG/ncu.txt" 2>&1 || echo "ncu: rc $?"
fi
"$BIN/gpu_check" "$@" 2>&1 | tee "$LOG/gpu_check.log"
exit "${MEMCHECK_RC:-0}"
