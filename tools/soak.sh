#!/usr/bin/env bash
# Soak test (issue 10): translates 10,000 lines greedy and 4,000 with beam 4 through the vkformer command,
# sampling its resident memory (VmRSS in /proc/PID/status). After warm-up (the first pass over the base
# corpus, when every batch shape has been seen) RSS must stay within 5 % (max / min after warm-up); exits
# 1 otherwise, or if a run fails or loses a line.
#
#   tools/soak.sh [--binary build/vkformer] [--batch-size 32] [--greedy-lines 10000] [--beam-lines 4000]
#                 [--interval 5] [--tolerance 5] [--model DIR]
#
# Input: models/en-de/testset/test.en and tools/bench/input.en, cycled; every pass after the first drops
# one word (of lines longer than 3 words) and swaps two neighbours, other words each pass, so lines vary
# but never outgrow the first pass. Samples go to $SOAK_DIR (default: a temporary directory, removed at exit).
set -euo pipefail
cd "$(dirname "$0")/.."

binary=build/vkformer batch=32 greedy_lines=10000 beam_lines=4000 interval=5 tolerance=5 model=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary=$2 ;;
    --batch-size) batch=$2 ;;
    --greedy-lines) greedy_lines=$2 ;;
    --beam-lines) beam_lines=$2 ;;
    --interval) interval=$2 ;;
    --tolerance) tolerance=$2 ;;
    --model) model=$2 ;;
    *) echo "soak.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
[[ -x $binary ]] || { echo "soak.sh: $binary is not an executable (build first, or --binary)" >&2; exit 2; }

if [[ -n ${SOAK_DIR:-} ]]; then
  work=$SOAK_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi

base="$work/base.en"
grep -hv '^[[:space:]]*$' models/en-de/testset/test.en tools/bench/input.en > "$base"
base_count=$(wc -l < "$base")

# The first `count` lines of the cycled, perturbed corpus.
make_input() {
  awk -v count="$1" '
    { line[n++] = $0 }
    END {
      for (k = 0; k < count; ++k) {
        i = k % n; pass = int(k / n)
        if (pass == 0) { print line[i]; continue }
        words = split(line[i], w, " ")
        if (words > 3) {
          drop = (pass * 7 + i) % words + 1
          for (j = drop; j < words; ++j) w[j] = w[j + 1]
          --words
        }
        if (words > 1) {
          swap = (pass * 3 + i) % (words - 1) + 1
          t = w[swap]; w[swap] = w[swap + 1]; w[swap + 1] = t
        }
        out = w[1]
        for (j = 2; j <= words; ++j) out = out " " w[j]
        print out
      }
    }' "$base"
}

# Runs one translation, sampling "seconds lines_done rss_kib" every `interval` seconds into $name.samples.
soak_run() {
  local name=$1 beam=$2 lines=$3
  local input="$work/$name.en" output="$work/$name.out" samples="$work/$name.samples"
  make_input "$lines" > "$input"
  local args=(translate --beam "$beam" --batch-size "$batch")
  [[ -n $model ]] && args+=(--model "$model")
  : > "$samples"
  local start=$SECONDS
  "$binary" "${args[@]}" < "$input" > "$output" 2> "$work/$name.err" &
  local pid=$!
  while kill -0 "$pid" 2> /dev/null; do
    local rss
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2> /dev/null || true)
    [[ -n $rss ]] && echo "$((SECONDS - start)) $(wc -l < "$output") $rss" >> "$samples"
    sleep "$interval"
  done
  local rc=0
  wait "$pid" || rc=$?
  local seconds=$((SECONDS - start)) done
  done=$(wc -l < "$output")
  if [[ $rc -ne 0 || $done -ne $lines ]]; then
    echo "$name: FAILED: exit $rc, $done of $lines lines translated: $(tail -1 "$work/$name.err")"
    return 1
  fi
  awk -v name="$name" -v beam="$beam" -v lines="$lines" -v seconds="$seconds" -v warm="$base_count" \
      -v tolerance="$tolerance" '
    { peak = $3 > peak ? $3 : peak }
    $2 >= warm { if (!count++ || $3 < low) low = $3; if ($3 > high) high = $3 }
    END {
      printf "%s (beam %d): %d lines in %d s (%.1f lines/s), peak RSS %.1f MiB", name, beam, lines, seconds,
             lines / (seconds ? seconds : 1), peak / 1024
      if (count < 3) { printf "; only %d samples after warm-up (%d lines): FAILED\n", count, warm; exit 1 }
      spread = 100 * (high - low) / low
      printf "; after warm-up (%d lines, %d samples) %.1f-%.1f MiB, spread %.1f %% (limit %s %%): %s\n", warm,
             count, low / 1024, high / 1024, spread, tolerance, spread <= tolerance ? "ok" : "FAILED"
      exit spread <= tolerance ? 0 : 1
    }' "$samples"
}

echo "soak: $binary, batch size $batch, base corpus $base_count lines, a sample every ${interval}s"
status=0
soak_run greedy 1 "$greedy_lines" || status=1
soak_run beam 4 "$beam_lines" || status=1
exit $status
