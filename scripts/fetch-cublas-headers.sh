#!/usr/bin/env bash
# cuBLAS headers for the CUDA compile checks (test/cuda) where the CUDA toolkit has no cuBLAS
# (this project's CI machines: nvcc only). ggml-cuda includes cublas_v2.h, so the patched
# ggml-cuda.cu and our glue (native/cuda/entq_ggml_cuda.cu) need it to compile; nothing is linked.
# Source: Debian bookworm's non-free nvidia-cuda-dev (CUDA 11.8 headers; the declarations we use
# are the same in CUDA 12/13), fetched with apt without installing it. Idempotent.
#   scripts/fetch-cublas-headers.sh      -> .cache/cublas-headers/include/cublas_v2.h
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.cache/cublas-headers
if [ -f "$DEST/include/cublas_v2.h" ]; then
    echo "[cublas-headers] already in $DEST/include"
    exit 0
fi
for tool in apt-get dpkg-deb tar; do
    command -v "$tool" >/dev/null || { echo "[cublas-headers] $tool not found: needs a Debian-like system" >&2; exit 2; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/lists/partial" "$TMP/cache/archives/partial" "$TMP/x"
echo "deb http://deb.debian.org/debian bookworm non-free" > "$TMP/sources.list"
APT=(-o Dir::Etc::SourceList="$TMP/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$TMP/lists"
     -o Dir::Cache="$TMP/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)")
echo "[cublas-headers] fetching Debian's nvidia-cuda-dev (~780 MB, only its cuBLAS headers are kept)"
apt-get "${APT[@]}" -qq update
(cd "$TMP" && apt-get "${APT[@]}" -qq download nvidia-cuda-dev)
dpkg-deb --fsys-tarfile "$TMP"/nvidia-cuda-dev_*.deb | tar -x -C "$TMP/x" --wildcards '*/include/cublas*.h'
mkdir -p "$DEST.tmp/include"
cp "$TMP"/x/usr/include/cublas*.h "$DEST.tmp/include/"
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
echo "[cublas-headers] $(ls "$DEST/include" | wc -l) headers in $DEST/include"
