#!/usr/bin/env bash
# Portability checks on a machine without a GPU (CI runs it after the test suite):
#   tools/portability_check.sh [BUILD_DIR]     (default build/; builds vkformer and vkformer_tests if missing)
# 1 lavapipe at subgroup size 4 and 16 (LP_NATIVE_VECTOR_WIDTH=128 and 512; the suite runs 8): under every
#   tuning `vkformer conformance`, and under cpu, generic and nvidia the engine tests ("[translate]" of
#   vkformer_tests) but the shipped model's, whose kernels the tiny models' tests also run (the suite and
#   steps 2 and 3 run it); amd and intel run nvidia's kernels with other shapes, which conformance covers.
# 2 LVP_POISON_MEMORY=1 (new allocations filled with garbage): conformance and engine tests, tunings cpu
#   and generic.
# 3 a second driver, Mesa 25's lavapipe from bookworm-backports, unpacked (not installed) under
#   ~/.cache/vkformer/mesa25 and selected with VK_DRIVER_FILES and LD_LIBRARY_PATH: conformance under
#   generic, and under cpu but for matmul (Mesa 25 takes 2.5 minutes to compile the cpu tuning's matmul
#   pipelines, 5 times Mesa 22.3); the engine tests under cpu and generic, with validation. Adds
#   bookworm-backports to apt's sources if missing (needs root or sudo).
# Conformance runs with validation layers on, and any message they print fails it. A failed run is
# reported and the others go on; the exit status is 1 if any failed. About 9 minutes on 2 busy cores.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
tunings="cpu generic nvidia amd intel"

if [[ ! -x $build/vkformer || ! -x $build/tests/vkformer_tests ]]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    cmake --build "$build" -j"$(nproc)" --target vkformer_cli vkformer_tests >/dev/null || exit 1
fi
vkformer=$(cd "$build" && pwd)/vkformer
tests=$(cd "$build" && pwd)/tests/vkformer_tests
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
total_start=$SECONDS

# run LABEL COMMAND...: runs COMMAND, prints one line; fails on a non-zero exit or on a message of the
# Vulkan messenger (vkformer prints them as "vulkan validation|performance|general: ...").
run() {
  local label=$1 start=$SECONDS log
  shift
  log=$work/$(echo "$label" | tr -c 'A-Za-z0-9_.-' _).log
  if "$@" >"$log" 2>&1 && ! grep -qE '^vulkan (validation|performance|general): ' "$log"; then
    echo "ok     $label ($((SECONDS - start)) s)"
  else
    echo "FAILED $label ($((SECONDS - start)) s):"
    grep -E '^vulkan [a-z]+: |FAIL' "$log" | head -n 10 | sed 's/^/    /'
    tail -n 20 "$log" | sed 's/^/    /'
    failed=1
  fi
}

# expect_device TEXT: `vkformer devices --json` must contain TEXT (the setting took effect).
expect_device() {
  local json
  json=$("$vkformer" devices --json 2>&1)
  grep -q "$1" <<<"$json" && return 0
  echo "FAILED the device does not report $1:"
  sed 's/^/    /' <<<"$json" | head -n 40
  failed=1
  return 1
}

# conformance CONFIG TUNING [OP...]: every case, or those of the given ops.
conformance() {
  local config=$1 tuning=$2
  shift 2
  if [[ $# -eq 0 ]]; then
    run "$config: conformance --tuning $tuning" "$vkformer" conformance --tuning "$tuning" --validation
  fi
  for op in "$@"; do
    run "$config: conformance --tuning $tuning --op $op" "$vkformer" conformance --tuning "$tuning" --op "$op" --validation
  done
}

# engine CONFIG TUNING SPEC VALIDATION: the engine tests selected by the Catch2 test spec.
engine() {
  run "$1: engine tests $3, tuning $2" env VKFORMER_TUNING="$2" VKFORMER_VALIDATION="$4" "$tests" "$3"
}

all_engine_tests="[translate]"
tiny_engine_tests="[translate]~*shipped*"

# 1. Subgroups of 4 and 16 lanes. Mesa's shader cache may not tell vector widths apart: one per width.
for width in 128 512; do
  subgroup=$((width / 32)) config="subgroup $((width / 32))"
  export LP_NATIVE_VECTOR_WIDTH=$width MESA_SHADER_CACHE_DIR=$work/mesa-cache-$width VKFORMER_CACHE_DIR=$work/cache-$width
  if expect_device "\"subgroup_size\": $subgroup,"; then
    for tuning in $tunings; do
      conformance "$config" "$tuning"
      case $tuning in
        amd | intel) ;;
        *) engine "$config" "$tuning" "$tiny_engine_tests" 0 ;;
      esac
    done
  fi
  unset LP_NATIVE_VECTOR_WIDTH MESA_SHADER_CACHE_DIR
done
export VKFORMER_CACHE_DIR=$work/vkformer-cache

# 2. Poisoned allocations (the default width: Mesa's shader cache from the test suite serves).
export LVP_POISON_MEMORY=1
for tuning in cpu generic; do
  conformance "poisoned memory" "$tuning"
done
engine "poisoned memory" cpu "$all_engine_tests" 0
engine "poisoned memory" generic "$tiny_engine_tests" 0
unset LVP_POISON_MEMORY

# 3. Mesa 25's lavapipe beside the system's: apt-get download + dpkg-deb -x, nothing installed.
mesa25=${XDG_CACHE_HOME:-$HOME/.cache}/vkformer/mesa25
lib=$mesa25/usr/lib/x86_64-linux-gnu
sudo_cmd=""
[[ $(id -u) -ne 0 ]] && sudo_cmd=sudo
fetch_mesa25() {
  local debs=$work/debs
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      $sudo_cmd tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null || return 1
  fi
  if ! apt-cache madison mesa-vulkan-drivers | grep -q bookworm-backports; then
    $sudo_cmd apt-get update -qq || return 1
  fi
  mkdir -p "$debs" && (cd "$debs" && apt-get download -qq mesa-vulkan-drivers/bookworm-backports \
    libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports) || return 1
  rm -rf "$mesa25" && mkdir -p "$mesa25"
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$mesa25" || return 1; done
  sed "s|\"library_path\": *\"[^\"]*\"|\"library_path\": \"$lib/libvulkan_lvp.so\"|" \
    "$mesa25/usr/share/vulkan/icd.d/lvp_icd.json" >"$mesa25/lvp_icd.json"
}
if [[ ! -f $mesa25/lvp_icd.json ]]; then
  start=$SECONDS
  if fetch_mesa25 >"$work/fetch.log" 2>&1; then
    echo "ok     Mesa 25 lavapipe unpacked into $mesa25 ($((SECONDS - start)) s)"
  else
    echo "FAILED fetching Mesa 25 from bookworm-backports:"
    sed 's/^/    /' "$work/fetch.log" | tail -n 20
    rm -rf "$mesa25"
    exit 1
  fi
fi
# Its libLLVM is Debian 12's LLVM 15, which the system's Mesa 22.3 also uses.
if LD_LIBRARY_PATH=$lib ldd "$lib/libvulkan_lvp.so" | grep "not found"; then
  echo "FAILED libraries of Mesa 25's libvulkan_lvp.so are missing (above)"
  exit 1
fi
export VK_DRIVER_FILES=$mesa25/lvp_icd.json LD_LIBRARY_PATH=$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
if expect_device '"driver_info": "Mesa 25'; then
  conformance "Mesa 25" generic
  conformance "Mesa 25" cpu elementwise softmax layer_norm embed_position argmax topk logits_edit attention
  engine "Mesa 25" cpu "$all_engine_tests" 1
  engine "Mesa 25" generic "$tiny_engine_tests" 1
fi

echo "portability checks: $((SECONDS - total_start)) s, $( ((failed)) && echo FAILED || echo all passed)"
exit $failed
