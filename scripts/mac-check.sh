#!/usr/bin/env bash
# Metal check of the ENTQ kernels, for a Mac with Apple Silicon. Nobody on the
# team has run it yet: its output holds the first Metal numbers (please send
# the folder it writes). Needs what `npm install` needs (Node 20, cmake, the
# Xcode command-line tools) and about 2 GB of disk.
#   1. builds the patched llama.cpp tools (`entgguf build --tools`; llama.cpp
#      builds Metal by default on macOS, and our kernels with it: patch 0012);
#   2. kernel check: native/ggml/test/entq_ggml_gpu_test.cpp on the Metal
#      device: ggml mul_mat of coded weights on Metal vs the CPU backend vs an
#      f64 reference (NMSE per case: odd K, three code kinds, batches 1, 2, 8,
#      32, 512, i.e. the fused GEMV and the f16 rows + mul_mm paths), and which
#      ops Metal takes for coded weights;
#   3. a synthetic Llama (6 layers x 1024, `SYNTHETIC_BENCH`), coded at 3
#      bits/weight, with F16, Q8_0 and Q4_K_M peers made from the same F16;
#      llama-bench pp512 / tg128 with every layer on Metal (-ngl 99), and the
#      coded model again with its weights on the CPU (-ngl 0);
#   4. llama-perplexity of the coded model on test/fixtures/short-stories.txt
#      on Metal and on the CPU: the two must agree to about 3 digits.
# Logs and models go to $OUT when set, else build/mac-check.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=${OUT:-build/mac-check}
mkdir -p "$LOG"
[ "$(uname -s)" = Darwin ] || { echo "mac-check: this is for macOS on Apple Silicon (Metal); on Linux run npm test"; exit 2; }
[ -f dist/bin/entgguf.js ] || { echo "mac-check: dist/ is missing: run 'npm install' first"; exit 2; }
ENTGGUF=(node dist/bin/entgguf.js)
{ sw_vers; sysctl -n machdep.cpu.brand_string; system_profiler SPDisplaysDataType 2>/dev/null | grep -E "Chipset|Cores|Metal" || true; } | tee "$LOG/machine.txt"

echo "== building the patched llama.cpp tools (with Metal)"
"${ENTGGUF[@]}" build --tools 2>&1 | tee "$LOG/build.log"
BIN=$(ls -d .cache/tools/*-metal/bin | head -1)
SRC=$(ls -d .cache/llama.cpp/v* | head -1)
[ -x "$BIN/llama-bench" ] || { echo "mac-check: no Metal tools build in .cache/tools (see $LOG/build.log)"; exit 2; }

echo "== kernel check: ggml mul_mat of coded weights on Metal vs CPU vs f64"
c++ -O2 -std=c++17 -I "$SRC/ggml/include" -I native native/ggml/test/entq_ggml_gpu_test.cpp native/test/test_main.cpp \
    -L "$BIN" -lggml -lggml-base -Wl,-rpath,"$PWD/$BIN" -o "$LOG/entq_ggml_gpu_test"
KERNEL_RC=0
ENTQ_GPU=MTL "$LOG/entq_ggml_gpu_test" 2>&1 | tee "$LOG/kernel-check.log" || KERNEL_RC=$?

echo "== models: a synthetic 6 x 1024 Llama, coded at 3 bits, and its F16 / Q8_0 / Q4_K_M peers"
M="$LOG/models"
mkdir -p "$M"
[ -f "$M/f16.gguf" ] || node --input-type=module -e \
    "const m = await import('./dist/src/index.js'); await m.makeSyntheticModel(process.argv[1], m.SYNTHETIC_BENCH);" "$M/f16.gguf"
[ -f "$M/entq-3.gguf" ] || "${ENTGGUF[@]}" convert "$M/f16.gguf" -o "$M/entq-3.gguf" --bits 3
for q in Q8_0 Q4_K_M; do [ -f "$M/$q.gguf" ] || "$BIN/llama-quantize" "$M/f16.gguf" "$M/$q.gguf" "$q" > "$M/$q.log" 2>&1; done

echo "== llama-bench, every layer on Metal (-ngl 99)"
"$BIN/llama-bench" -m "$M/entq-3.gguf" -m "$M/Q4_K_M.gguf" -m "$M/Q8_0.gguf" -m "$M/f16.gguf" -ngl 99 -p 512 -n 128 -o md \
    2> "$LOG/llama-bench-metal.err" | tee "$LOG/llama-bench-metal.md"
echo "== llama-bench, the coded model with its weights on the CPU (-ngl 0)"
"$BIN/llama-bench" -m "$M/entq-3.gguf" -ngl 0 -p 512 -n 128 -o md 2> "$LOG/llama-bench-cpu.err" | tee "$LOG/llama-bench-cpu.md"

echo "== perplexity of the coded model on Metal and on the CPU (must agree)"
for ngl in 99 0; do
    "$BIN/llama-perplexity" -m "$M/entq-3.gguf" -f test/fixtures/short-stories.txt -c 128 --chunks 4 -ngl "$ngl" \
        > "$LOG/perplexity-ngl$ngl.log" 2>&1 || echo "(llama-perplexity -ngl $ngl failed: $LOG/perplexity-ngl$ngl.log)"
    echo "-ngl $ngl: $(grep -E 'Final estimate' "$LOG/perplexity-ngl$ngl.log" || echo 'no estimate')"
done

[ "$KERNEL_RC" = 0 ] && echo "mac-check: kernel check passed; logs in $LOG" || { echo "mac-check: kernel check FAILED ($LOG/kernel-check.log)"; exit 1; }
