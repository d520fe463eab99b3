#!/usr/bin/env bash
# Builds the libFuzzer harnesses (native/fuzz/fuzz_<target>.cpp) with Clang,
# ASan and UBSan, makes their seed corpora, and runs each target in turn.
#
#   bash scripts/fuzz.sh [--runs N] [--seconds S] [--targets a,b] [--out DIR]
#
#   --runs N      executions per target (libFuzzer -runs; the full pass is --runs 1000000)
#   --seconds S   stop each target after S seconds (libFuzzer -max_total_time), e.g. for tests
#   --targets     comma-separated subset of: stream_parse reference_decode avx2_decode cpu_repack encode quantize
#   --out DIR     build and corpus folder (default build/fuzz)
#   --fresh       start from the seeds alone, in a temporary corpus (the kept one grows with every run)
#
# Prints one line per target: executions, exec/s, seconds, crashes, corpus size, peak RSS.
# Exit status: 0 when every target ran clean, 1 on a crash or sanitizer report
# (the input is saved under DIR/crashes/), 77 when Clang with libFuzzer is
# missing (install it: apt-get install clang).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS="stream_parse reference_decode avx2_decode cpu_repack encode quantize"
runs=""
seconds=""
targets="$ALL_TARGETS"
out="build/fuzz"
fresh=0
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
        --targets) targets="${2//,/ }"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --fresh) fresh=1; shift ;;
        *) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$runs" ] && [ -z "$seconds" ]; then runs=100000; fi
for t in $targets; do
    case " $ALL_TARGETS " in *" $t "*) ;; *) echo "fuzz.sh: unknown target $t (known: $ALL_TARGETS)" >&2; exit 2 ;; esac
done

CXX="${FUZZ_CXX:-}"
if [ -z "$CXX" ]; then
    for c in clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
        if command -v "$c" >/dev/null; then CXX="$c"; break; fi
    done
fi
mkdir -p "$out/bin" "$out/crashes" "$out/logs"
probe="$out/bin/.probe"
if [ -z "$CXX" ] || ! echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char *, unsigned long) { return 0; }' |
    "$CXX" -x c++ - -fsanitize=fuzzer,address,undefined -o "$probe" 2>/dev/null; then
    echo "fuzz.sh: SKIP: no Clang with libFuzzer (-fsanitize=fuzzer) found; install it with: apt-get install clang" >&2
    exit 77
fi
rm -f "$probe"

FLAGS=(-std=c++17 -O2 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Inative)
# a harness is rebuilt when any native header or harness source is newer than it
newest_src=$(find native/stream native/quant native/cpu native/fuzz native/test -type f -newer "$out/bin/.built" 2>/dev/null | head -n1 || true)
for t in $targets; do
    exe="$out/bin/fuzz_$t"
    if [ ! -x "$exe" ] || [ ! -e "$out/bin/.built" ] || [ -n "$newest_src" ]; then
        echo "fuzz.sh: building fuzz_$t with $CXX"
        "$CXX" "${FLAGS[@]}" "native/fuzz/fuzz_$t.cpp" -o "$exe"
    fi
done
if [ ! -x "$out/bin/make_seeds" ] || [ ! -e "$out/bin/.built" ] || [ -n "$newest_src" ]; then
    "$CXX" -std=c++17 -O1 -Inative native/fuzz/make_seeds.cpp -o "$out/bin/make_seeds"
fi
touch "$out/bin/.built"

# seeds: coded by the real encoder now, plus a real model's streams and weights when at hand
rm -rf "$out/seeds"
"$out/bin/make_seeds" "$out/seeds"
if [ -f dist/scripts/fuzzSeeds.js ]; then
    node dist/scripts/fuzzSeeds.js "$out/seeds" || echo "fuzz.sh: no seeds from a real model (see above); going on with the synthetic ones" >&2
fi

limits=(-rss_limit_mb=2048 -timeout=30 -print_final_stats=1)
[ -n "$runs" ] && limits+=("-runs=$runs")
[ -n "$seconds" ] && limits+=("-max_total_time=$seconds")

printf '%-18s %12s %10s %8s %8s %8s %8s\n' target executions exec/s seconds crashes corpus rss_mb
failed=0
for t in $targets; do
    corpus="$out/corpus/$t"
    if [ $fresh = 1 ]; then corpus="$out/corpus-fresh/$t"; rm -rf "$corpus"; fi
    mkdir -p "$corpus"
    log="$out/logs/$t.log"
    t0=$(date +%s.%N)
    set +e
    "$out/bin/fuzz_$t" "${limits[@]}" -artifact_prefix="$out/crashes/$t-" "$corpus" "$out/seeds/$t" >"$log" 2>&1
    rc=$?
    set -e
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf("%.1f", b - a) }')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    # libFuzzer's own average is whole executions per whole second (0 under a second): measured here instead
    rate=$(awk -v n="${execs:-0}" -v s="$secs" 'BEGIN { printf("%d", (s > 0) ? n / s : 0) }')
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n1)
    size=$(find "$corpus" -type f | wc -l)
    crashes=0
    if [ $rc -ne 0 ] || grep -q "ERROR: \(AddressSanitizer\|UndefinedBehaviorSanitizer\|libFuzzer\)\|runtime error:\|FUZZ_CHECK failed" "$log"; then
        crashes=1
        failed=1
    fi
    printf '%-18s %12s %10s %8.0f %8s %8s %8s\n' "$t" "${execs:-?}" "${rate:-?}" "$secs" "$crashes" "$size" "${rss:-?}"
    if [ $crashes -ne 0 ]; then
        echo "fuzz.sh: $t failed (exit $rc); log $log, inputs under $out/crashes/:" >&2
        grep -m5 "ERROR:\|runtime error:\|FUZZ_CHECK failed\|^artifact_prefix\|Test unit written" "$log" >&2 || tail -n 20 "$log" >&2
    fi
    if [ "$t" = avx2_decode ] && ! grep -q avx2 /proc/cpuinfo 2>/dev/null; then
        echo "fuzz.sh: note: this CPU has no AVX2, so avx2_decode ran without decoding anything" >&2
    fi
done
[ $fresh = 1 ] && rm -rf "$out/corpus-fresh"
exit $failed
