#!/usr/bin/env bash
# Runs `vkformer bench ops` and OpenBLAS's blas_bench on the same matmul shapes back to back and prints
# vkformer / OpenBLAS ratios. Builds both (Release, in $BUILD_DIR) when missing.
#   tools/bench_ops.sh [--tuning T] [--device D] [--threads N] [--repeat N]
# BUILD_DIR defaults to build-bench. Needs python3 for the ratio table.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-bench}
threads=2 repeat=10 vk_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --tuning|--device) vk_args+=("$1" "$2"); shift 2 ;;
    *) echo "usage: $0 [--tuning T] [--device D] [--threads N] [--repeat N]" >&2; exit 2 ;;
  esac
done
if [[ ! -x $BUILD_DIR/vkformer || ! -x $BUILD_DIR/tools/blas_bench/blas_bench ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  make -C "$BUILD_DIR" -j"$(nproc)" vkformer_cli blas_bench >/dev/null
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD_DIR/vkformer" bench ops --op matmul --repeat "$repeat" --json "${vk_args[@]}" >"$tmp/vk.json"
"$BUILD_DIR/tools/blas_bench/blas_bench" --threads "$threads" --repeat "$repeat" --json >"$tmp/blas.json"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp/vk.json" "$tmp/blas.json" <<'PY'
import json, sys
vk, blas = (json.load(open(path)) for path in sys.argv[1:3])
print(f"vkformer: {vk['device']} | tuning {vk['tuning']}\nOpenBLAS: {blas['device']}")
ref = {r["shape"]: r for r in blas["results"]}
print(f"{'shape':<14} {'variant':<12} {'vk ms':>9} {'vk GFLOPS':>10} {'blas ms':>9} {'blas GFLOPS':>12} {'ratio':>7}")
for r in vk["results"]:
    b = ref.get(r["shape"])
    if not b:
        continue
    print(f"{r['shape']:<14} {r['variant']:<12} {r['median_ms']:>9.3f} {r['rate']:>10.2f} "
          f"{b['median_ms']:>9.3f} {b['rate']:>12.2f} {r['rate'] / b['rate']:>6.1%}")
PY
