#!/usr/bin/env bash
# Compile-checks every csrc/cuda/*.cu with nvcc for sm_80 and sm_90 (warnings are errors).
# The same sources are compiled at run time by NVRTC through cupy.RawModule; nvcc here catches syntax,
# type and template errors without a GPU. Prints one line per (file, arch); exits non-zero on any failure.
# Skips (exit 0) with a message when nvcc is not installed.
set -u
cd "$(dirname "$0")/.."

NVCC="${NVCC:-$(command -v nvcc || true)}"
if [ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ]; then NVCC=/usr/local/cuda/bin/nvcc; fi
if [ -z "$NVCC" ]; then
    echo "check_cuda: nvcc not found; skipping the CUDA compile check"
    exit 0
fi

shopt -s nullglob
files=(csrc/cuda/*.cu)
if [ ${#files[@]} -eq 0 ]; then
    echo "check_cuda: no csrc/cuda/*.cu files"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export NVCC tmp

compile_one() {  # $1 = "file arch"
    local f="${1% *}" arch="${1#* }"
    local name; name="$(basename "$f" .cu)"
    local log="$tmp/$name.$arch.log"
    if "$NVCC" -std=c++17 -arch="$arch" -Icsrc/cuda -Werror all-warnings -Xptxas -Werror \
            --cubin -o "$tmp/$name.$arch.cubin" "$f" >"$log" 2>&1; then
        echo "check_cuda: OK   $f $arch"
    else
        echo "check_cuda: FAIL $f $arch"
        sed 's/^/    /' "$log"
        return 1
    fi
}
export -f compile_one

jobs="${CHECK_CUDA_JOBS:-$(nproc 2>/dev/null || echo 2)}"
status=0
for f in "${files[@]}"; do
    for arch in sm_80 sm_90; do echo "$f $arch"; done
done | xargs -P "$jobs" -I{} bash -c 'compile_one "$@"' _ {} || status=1

if [ $status -ne 0 ]; then
    echo "check_cuda: FAILED"
    exit 1
fi
echo "check_cuda: all ${#files[@]} files compile for sm_80 and sm_90"
