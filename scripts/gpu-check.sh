#!/usr/bin/env bash
# GPU check of the ENTQ CUDA kernels, for a machine with an NVIDIA GPU, CUDA's
# nvcc and no Node: builds native/cuda for this GPU's architecture, dumps the
# GEMV's SASS, runs the small correctness cases under compute-sanitizer
# (memcheck) when it is installed, then the full check (NMSE per case against
# an f64 reference, bit-exactness with the CPU twin, timings against plain
# int8/f16 GEMVs) and prints its table last.
#   scripts/gpu-check.sh            everything
#   scripts/gpu-check.sh --quick    small correctness cases only
#   ENTQ_NCU=1 scripts/gpu-check.sh  also profile the B=1 GEMV with Nsight Compute
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

nvcc -std=c++17 -O3 -arch="sm_$ARCH" -Xptxas -v -Xcompiler -fopenmp -Inative \
    -o "$BIN/gpu_check" native/cuda/gpu_check.cu native/cuda/entq_cuda.cu "${CUBLAS[@]}" > "$LOG/build.log" 2>&1 \
    || { tail -50 "$LOG/build.log"; exit 2; }
grep -A2 "gemv_kernel" "$LOG/build.log" | grep -E "registers|spill" | head -4 || true
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
