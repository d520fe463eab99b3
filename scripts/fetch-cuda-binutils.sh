#!/usr/bin/env bash
# cuobjdump and nvdisasm for the SASS instruction count (scripts/sassCount.mjs) where the CUDA
# toolkit at hand has only the compiler (this project's CI machines: nvcc and ptxas).
# Source: the distribution's nvidia-cuda-toolkit (Debian non-free, Ubuntu multiverse; CUDA 11.8 on
# bookworm, which disassembles sm_90), downloaded with apt without installing it, from the archive
# that scripts/fetch-cublas-headers.sh --print-sources names. Idempotent.
#   scripts/fetch-cuda-binutils.sh   -> .cache/cuda-binutils/bin/{cuobjdump,nvdisasm}
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.cache/cuda-binutils
if [ -x "$DEST/bin/cuobjdump" ]; then
    echo "[cuda-binutils] already in $DEST/bin"
    exit 0
fi
for tool in apt-get dpkg-deb tar; do
    command -v "$tool" >/dev/null || { echo "[cuda-binutils] $tool not found: needs a Debian-like system" >&2; exit 2; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/lists/partial" "$TMP/cache/archives/partial" "$TMP/x" "$TMP/sources.d"
bash scripts/fetch-cublas-headers.sh --print-sources > "$TMP/sources.d/cuda-binutils.sources"
APT=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$TMP/sources.d" -o Dir::State::Lists="$TMP/lists"
     -o Dir::Cache="$TMP/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)")
echo "[cuda-binutils] fetching nvidia-cuda-toolkit (~85 MB, only cuobjdump and nvdisasm are kept)"
apt-get "${APT[@]}" -qq update
(cd "$TMP" && apt-get "${APT[@]}" -qq download nvidia-cuda-toolkit)
dpkg-deb --fsys-tarfile "$TMP"/nvidia-cuda-toolkit_*.deb | tar -x -C "$TMP/x" ./usr/bin/cuobjdump ./usr/bin/nvdisasm
mkdir -p "$DEST.tmp/bin"
cp "$TMP"/x/usr/bin/cuobjdump "$TMP"/x/usr/bin/nvdisasm "$DEST.tmp/bin/"
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
echo "[cuda-binutils] $("$DEST/bin/cuobjdump" --version | tail -n 1)"
