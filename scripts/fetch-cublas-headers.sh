#!/usr/bin/env bash
# cuBLAS headers for the CUDA compile checks (test/cuda) where the CUDA toolkit has no cuBLAS
# (this project's CI machines: nvcc only). ggml-cuda includes cublas_v2.h, so the patched
# ggml-cuda.cu and our glue (native/cuda/entq_ggml_cuda.cu) need it to compile; nothing is linked.
# Source: the distribution's nvidia-cuda-dev (Debian non-free, Ubuntu multiverse; on bookworm the
# CUDA 11.8 headers, whose declarations we use are the same in CUDA 12/13), downloaded with apt
# without installing it, from the archive this system's apt sources already name: their entries
# for the release's own suite with component main, given the package's component instead. So it
# works wherever apt works (mirrors, proxies, local archives). Idempotent.
#   scripts/fetch-cublas-headers.sh                  -> .cache/cublas-headers/include/cublas_v2.h
#   scripts/fetch-cublas-headers.sh --print-sources  the apt sources it would use, and nothing else
# APT_ETC_DIR (default /etc/apt) and OS_RELEASE_FILE (default /etc/os-release) say where to read
# the system's configuration (the tests point them at fixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=.cache/cublas-headers
APT_ETC=${APT_ETC_DIR:-/etc/apt}
PRINT_ONLY=0
[ "${1:-}" = "--print-sources" ] && PRINT_ONLY=1
if [ $PRINT_ONLY = 0 ] && [ -f "$DEST/include/cublas_v2.h" ]; then
    echo "[cublas-headers] already in $DEST/include"
    exit 0
fi
for tool in apt-get dpkg-deb tar awk; do
    command -v "$tool" >/dev/null || { echo "[cublas-headers] $tool not found: needs a Debian-like system" >&2; exit 2; }
done
# shellcheck disable=SC1090,SC1091
. "${OS_RELEASE_FILE:-/etc/os-release}"
case "${ID:-}" in
    debian) COMPONENT=non-free ;;
    ubuntu) COMPONENT=multiverse ;;
    *) echo "[cublas-headers] ${ID:-this system} is neither Debian nor Ubuntu: put cublas_v2.h and friends in $DEST/include yourself" >&2; exit 2 ;;
esac
CODENAME=${VERSION_CODENAME:?"/etc/os-release names no VERSION_CODENAME"}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/lists/partial" "$TMP/cache/archives/partial" "$TMP/x" "$TMP/sources.d"

# The configured entries of suite $CODENAME with component main, rewritten as deb822 stanzas for
# $COMPONENT; Signed-By (a keyring path or an embedded key), Architectures and Trusted are kept.
SOURCES="$TMP/sources.d/cublas-headers.sources"
{
    # one-line format: deb [opt=val ...] URI SUITE COMPONENT...
    for f in "$APT_ETC/sources.list" "$APT_ETC"/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v suite="$CODENAME" -v comp="$COMPONENT" '
            { sub(/#.*/, "") }
            $1 != "deb" { next }
            {
                i = 2; signed = ""; arch = ""; trusted = ""
                if ($2 ~ /^\[/) {
                    opts = ""
                    for (; i <= NF; i++) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } }
                    gsub(/[\[\]]/, "", opts)
                    n = split(opts, o, " ")
                    for (k = 1; k <= n; k++) {
                        if (o[k] ~ /^signed-by=/) signed = substr(o[k], 11)
                        if (o[k] ~ /^arch=/) arch = substr(o[k], 6)
                        if (o[k] ~ /^trusted=/) trusted = substr(o[k], 9)
                    }
                }
                uri = $i; s = $(i + 1); main = 0
                for (k = i + 2; k <= NF; k++) if ($k == "main") main = 1
                if (s != suite || !main) next
                printf "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n", uri, suite, comp
                if (signed != "") printf "Signed-By: %s\n", signed
                if (arch != "") { gsub(/,/, " ", arch); printf "Architectures: %s\n", arch }
                if (trusted != "") printf "Trusted: %s\n", trusted
                printf "\n"
            }' "$f"
    done
    # deb822 format: stanzas of "Key: value" fields, continuation lines indented
    for f in "$APT_ETC"/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v suite="$CODENAME" -v comp="$COMPONENT" '
            function flush() {
                if (key != "") val[tolower(key)] = v
                key = ""
            }
            function stanza(   n, t, k, debType, hasSuite, hasMain) {
                flush()
                if (tolower(val["enabled"]) == "no") return
                n = split(val["types"], t, /[ \t]+/); for (k = 1; k <= n; k++) if (t[k] == "deb") debType = 1
                n = split(val["suites"], t, /[ \t]+/); for (k = 1; k <= n; k++) if (t[k] == suite) hasSuite = 1
                n = split(val["components"], t, /[ \t]+/); for (k = 1; k <= n; k++) if (t[k] == "main") hasMain = 1
                if (!debType || !hasSuite || !hasMain || val["uris"] == "") return
                printf "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n", val["uris"], suite, comp
                if (val["signed-by"] != "") printf "Signed-By:%s\n", val["signed-by"]
                if (val["architectures"] != "") printf "Architectures: %s\n", val["architectures"]
                if (val["trusted"] != "") printf "Trusted: %s\n", val["trusted"]
                printf "\n"
            }
            /^#/ { next }
            /^[ \t]*$/ { stanza(); delete val; next }
            /^[ \t]/ { v = v "\n" $0; next }   # a continuation line (an embedded key keeps its layout)
            {
                flush()
                key = $0; sub(/:.*/, "", key)
                v = $0; sub(/^[^:]*:/, "", v)
                if (tolower(key) != "signed-by") sub(/^[ \t]+/, "", v)
            }
            END { stanza() }' "$f"
    done
} > "$SOURCES"
if ! grep -q '^URIs:' "$SOURCES"; then
    echo "[cublas-headers] no apt source for $CODENAME with component main in $APT_ETC/sources.list or $APT_ETC/sources.list.d/: add the distribution's archive to apt, or put cublas_v2.h and friends in $DEST/include yourself" >&2
    exit 2
fi
if [ $PRINT_ONLY = 1 ]; then cat "$SOURCES"; exit 0; fi
echo "[cublas-headers] from the archive(s) of this system's apt sources: $(sed -n 's/^URIs: //p' "$SOURCES" | tr '\n' ' ')($CODENAME $COMPONENT)"

APT=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$TMP/sources.d" -o Dir::State::Lists="$TMP/lists"
     -o Dir::Cache="$TMP/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User="$(id -un)")
echo "[cublas-headers] fetching nvidia-cuda-dev (~780 MB, only its cuBLAS headers are kept)"
apt-get "${APT[@]}" -qq update
(cd "$TMP" && apt-get "${APT[@]}" -qq download nvidia-cuda-dev)
dpkg-deb --fsys-tarfile "$TMP"/nvidia-cuda-dev_*.deb | tar -x -C "$TMP/x" --wildcards '*/include/cublas*.h'
mkdir -p "$DEST.tmp/include"
cp "$TMP"/x/usr/include/cublas*.h "$DEST.tmp/include/"
rm -rf "$DEST" && mv "$DEST.tmp" "$DEST"
echo "[cublas-headers] $(ls "$DEST/include" | wc -l) headers in $DEST/include"
