#!/usr/bin/env bash
# Runs examples/ray_translate.py on a local Ray cluster with 1 and then 2 actors (lavapipe) over the first
# lines of the shipped model's test set, text in and text out, and checks both outputs equal the CLI's.
# Prints the throughput of each run (docs/SCALING.md).
# Usage: tools/ray_check.sh [BUILD_DIR] (default build-py, configured as tools/python_check.sh does).
# LINES=N sets how many lines (default 64); BEAM=N the beam size (default: the model's).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build-py}")
python=$root/tools/.venv/bin/python
lines=${LINES:-64}
jobs=${JOBS:-2}
if ! "$python" -c "import ray, pyarrow" 2> /dev/null; then
  echo "ray_check: tools/.venv lacks ray[data]: run tools/setup_venv.sh --ray" >&2
  exit 1
fi

mkdir -p "$build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKFORMER_PYTHON=ON -DVKFORMER_BUILD_TESTS=OFF \
      -DVKFORMER_BUILD_TOOLS=OFF -DPython_EXECUTABLE="$python" > "$build/configure.log" ||
  { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target _vkformer vkformer_cli

unset VKFORMER_MODEL VKFORMER_DEVICE VKFORMER_VALIDATION
export VKFORMER_CACHE_DIR="$build/pipeline-cache" PYTHONPATH="$build/python" RAY_USAGE_STATS_ENABLED=0
work=$build/ray-check
rm -rf "$work" && mkdir -p "$work"
head -n "$lines" "$root/models/en-de/testset/test.en" > "$work/input.txt"
# vkformer caps a batch's outputs at twice its longest source (in buckets of 4 tokens) plus 32 tokens, so
# a runaway output stops where its batch mates decide. Ray's batches are not the CLI's: at most 40
# generated tokens, below every batch's cap, makes both stop every sentence at the same step.
beam=(--max-length 41)
if [ -n "${BEAM:-}" ]; then beam+=(--beam "$BEAM"); fi
start=$(date +%s%N)
"$build/vkformer" translate --model "$root/models/en-de" "${beam[@]}" < "$work/input.txt" > "$work/cli.txt"
echo "cli: $lines sentences in $(( ($(date +%s%N) - start) / 1000000 )) ms (one process, model load included)"

ray_beam=(--max-decoding-length 40)
if [ -n "${BEAM:-}" ]; then ray_beam+=(--beam-size "$BEAM"); fi
for actors in 1 2; do
  # Half a logical CPU per actor: a 2-CPU local cluster keeps CPUs for Ray Data's read tasks.
  "$python" "$root/examples/ray_translate.py" --model "$root/models/en-de" --input "$work/input.txt" \
    --output "$work/ray-$actors.txt" --actors "$actors" --cpus-per-actor 0.5 --batch-size 16 "${ray_beam[@]}" \
    2> "$work/ray-$actors.err" || { tail -30 "$work/ray-$actors.err"; exit 1; }
  grep "^ray_translate:" "$work/ray-$actors.err"
  diff -u "$work/cli.txt" "$work/ray-$actors.txt" > "$work/ray-$actors.diff" ||
    { head -20 "$work/ray-$actors.diff"; echo "ray_check: FAIL: $actors actor(s): output differs from the CLI's" >&2; exit 1; }
  echo "$actors actor(s): $(wc -l < "$work/ray-$actors.txt") lines equal to the CLI's"
done
echo "ray_check: OK"
