#!/usr/bin/env bash
# The GPU check: what a lent GPU machine should run, in one go, everything written into OUT_DIR.
#   tools/gpu_check.sh OUT_DIR [--quick] [--binary PATH] [--python PY]
# 1 devices; 2 conformance under every tuning (validation on where the layer is installed); 3 the shipped
# model translates the test set (greedy, beam, greedy with f16 weights) and is compared with lavapipe's
# committed output; 4 bench ops (f32 and f16 weights, and the device's peak-FMA and copy ceilings)
# against torch.matmul on the same device; 5 bench
# translate on the shipped model and on an opus-mt-base-sized random model against transformers;
# 6 profile of the opus-base-sized model; 7 OUT_DIR/summary.md (+ summary.json).
# Where the device can run matmul_coopmat (tensor cores, `vkformer devices`), also: its conformance cases
# under nvidia-coopmat, greedy f16 translation under it, and the kernel at 4096^3 and decoder-sized
# shapes beside the f16 kernels the nvidia tuning picks, against torch.matmul fp16 (about a minute).
# Each step runs under a time limit, and a failed step is recorded while the others go on; the exit
# status is non-zero if a check failed. --quick runs the same steps with small sizes (lavapipe, CI).
# Peers need python3 with torch (and transformers for step 5); where it is missing they are skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

out="" quick=0 binary="" python=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=1; shift ;;
    --binary) binary=$2; shift 2 ;;
    --python) python=$2; shift 2 ;;
    -*) echo "usage: $0 OUT_DIR [--quick] [--binary PATH] [--python PY]" >&2; exit 2 ;;
    *) out=$1; shift ;;
  esac
done
[[ -n $out ]] || { echo "usage: $0 OUT_DIR [--quick] [--binary PATH] [--python PY]" >&2; exit 2; }
mkdir -p "$out" && out=$(cd "$out" && pwd)
log=$out/log.txt
: >"$log"
note() { echo "[$(date +%T)] $*" | tee -a "$log"; }

if [[ -z $binary ]]; then
  binary=build/vkformer
  if [[ ! -x $binary ]]; then
    note "building Release into build/"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >>"$log" 2>&1 && cmake --build build -j"$(nproc)" --target vkformer_cli >>"$log" 2>&1 ||
      { note "FAILED: build"; exit 1; }
  fi
fi
vk=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
if [[ -z $python ]]; then  # tools/.venv, else the first python3 with numpy (make_random_model.py needs it)
  for python in tools/.venv/bin/python python3 /usr/bin/python3; do
    "$python" -c "import numpy" 2>/dev/null && break
  done
fi
has_torch=0 has_transformers=0 torch_device=cpu
if "$python" -c "import torch" 2>/dev/null; then
  has_torch=1
  "$python" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null && torch_device=cuda
  "$python" -c "import transformers, sentencepiece" 2>/dev/null && has_transformers=1
fi

if ((quick)); then
  tunings="" test_lines=48 ops_repeat=3 shipped_lines=16 opus_lines=8 batches="1 8"
  op_shapes="256x256x256 64x512x256 1x2048x512" coopmat_shapes="256x256x256 130x67x36"
  opus_args=(--d-model 64 --encoder-layers 1 --decoder-layers 1 --heads 4 --ffn 128)
else
  tunings="generic nvidia amd intel cpu" test_lines=0 ops_repeat=10 shipped_lines=48 opus_lines=40 batches="1 32"
  op_shapes="1024x1024x1024 4096x4096x4096 64x2048x512 1x4096x4096 1x58101x512"
  # 4096^3, then an opus-base-sized model's matmuls at 128 rows (encoder, or a batch-32 beam-4 step) and 32.
  coopmat_shapes="4096x4096x4096 1024x1024x1024 128x512x512 128x2048x512 128x512x2048 128x58101x512 32x512x2048"
  opus_args=(--d-model 512 --encoder-layers 6 --decoder-layers 6 --heads 8 --ffn 2048)
fi
torch_dtypes=float32
[[ $torch_device == cuda ]] && torch_dtypes="float32 float16"

failed=0
# step NAME SECONDS COMMAND...: runs COMMAND with stdout to OUT_DIR/NAME, stderr to the log.
step() {
  local name=$1 limit=$2
  shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >"$out/$name" 2>>"$log"
  local rc=$?
  if ((rc == 0)); then
    note "ok     $name ($((SECONDS - start)) s)"
  else
    note "FAILED $name (exit $rc$( ((rc == 124)) && echo ", timed out after $limit s"), $((SECONDS - start)) s)"
    failed=1
  fi
  return $rc
}

note "gpu_check: binary $vk, python $python (torch $has_torch on $torch_device, transformers $has_transformers), quick $quick"
step devices.txt 60 "$vk" devices
step devices.json 60 "$vk" devices --json
# Empty where the default device can run matmul_coopmat, else why not.
coopmat_misfit=$("$python" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["devices"][d["default"]]["cooperative_matrix"]["matmul_coopmat_misfit"])' "$out/devices.json" 2>&1 | tail -n 1)
if [[ -n $coopmat_misfit ]]; then note "no tensor-core steps: $coopmat_misfit"; fi

validation=()
if "$vk" conformance --validation --op elementwise >/dev/null 2>&1; then validation=(--validation); fi
note "conformance validation: ${validation[*]:-off (no validation layer)}"
if [[ -z $tunings ]]; then
  step conformance-auto.json 600 "$vk" conformance "${validation[@]}" --json
else
  for t in $tunings; do step "conformance-$t.json" 300 "$vk" conformance --tuning "$t" "${validation[@]}" --json; done
fi
if [[ -z $coopmat_misfit ]]; then
  # Its own cases only: the others run the nvidia tuning's kernels, which ran above (a minute of compiling).
  step conformance-nvidia-coopmat.json 300 "$vk" conformance --tuning nvidia-coopmat --op matmul_coopmat \
    "${validation[@]}" --json
fi

test_input=$out/test.en
if ((test_lines)); then head -n "$test_lines" models/en-de/testset/test.en >"$test_input"; else cp models/en-de/testset/test.en "$test_input"; fi
step translate-greedy.de 300 "$vk" translate --beam 1 --batch-size 32 <"$test_input"
step translate-beam.de 300 "$vk" translate --batch-size 32 <"$test_input"
step translate-greedy-f16.de 300 "$vk" translate --beam 1 --precision f16 --batch-size 32 <"$test_input"
if [[ -z $coopmat_misfit ]]; then
  step translate-greedy-f16-coopmat.de 300 "$vk" translate --beam 1 --precision f16 --batch-size 32 \
    --tuning nvidia-coopmat <"$test_input"
fi

for precision in f32 f16; do
  # shellcheck disable=SC2086
  step "bench-ops-$precision.json" 300 "$vk" bench ops --json --repeat "$ops_repeat" --precision "$precision" \
    $(printf -- '--shape %s ' $op_shapes)
done
step bench-ops-ceilings.json 120 "$vk" bench ops --json --repeat "$ops_repeat" --op peak --op copy
torch_shapes=$op_shapes
if [[ -z $coopmat_misfit ]]; then
  # shellcheck disable=SC2086
  step bench-ops-f16-decoder.json 300 "$vk" bench ops --json --repeat "$ops_repeat" --precision f16 \
    $(printf -- '--shape %s ' $coopmat_shapes)
  # shellcheck disable=SC2086
  step bench-ops-coopmat.json 300 "$vk" bench ops --json --repeat "$ops_repeat" --precision f16 --kernel coopmat \
    --tuning nvidia-coopmat $(printf -- '--shape %s ' $coopmat_shapes)
  torch_shapes=$(printf '%s\n' $op_shapes $coopmat_shapes | sort -u | tr '\n' ' ')
fi
if ((has_torch)); then
  # shellcheck disable=SC2086
  step torch-ops.json 300 "$python" tools/gpu_check/torch_ops.py --device "$torch_device" --dtypes $torch_dtypes \
    --repeat "$ops_repeat" --shapes $torch_shapes --copy-mib $((quick ? 64 : 1024))
else
  note "skipped torch-ops.json: no torch for $python"
fi

opus=$(mktemp -d)
trap 'rm -rf "$opus"' EXIT
step make-opus-base.txt 300 "$python" tools/make_random_model.py "$opus" "${opus_args[@]}" --vocab 58101 --no-eos
for model in en-de opus-base; do
  if [[ $model == en-de ]]; then dir=models/en-de lines=$shipped_lines max=(); else dir=$opus lines=$opus_lines max=(--max-length 41); fi
  if ((has_transformers)); then
    # shellcheck disable=SC2086
    step "bench-translate-$model.md" 240 "$python" tools/bench_translate.py --binary "$vk" --model "$dir" \
      --lines "$lines" --beams 1 4 --batches $batches "${max[@]}" --torch-device "$torch_device" \
      --torch-dtypes $torch_dtypes --torch-threads 1 --vk-precision f32 f16 --no-ct2 --markdown \
      --json-out "$out/bench-translate-$model.json"
  else
    # shellcheck disable=SC2086
    step "bench-translate-$model.txt" 240 "$vk" bench translate --model "$dir" --lines "$lines" --beam 1 4 \
      --batch-size $batches "${max[@]}"
  fi
done
head -n "$opus_lines" tools/bench/input.en >"$out/profile-input.en"
step profile-opus-base.txt 300 "$vk" profile --model "$opus" --beam 1 --batch-size 32 <"$out/profile-input.en"

step summarize.txt 120 "$python" tools/gpu_check/summarize.py "$out" --test-lines "$test_lines"
note "done: $out/summary.md"
exit $failed
