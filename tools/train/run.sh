#!/usr/bin/env bash
# Full pipeline after tools/corpus/build_corpus.sh: tokenizer + encoding, training until DEADLINE (UTC),
# checkpoint averaging + export to models/en-de, evaluation on the held-out test catalogs.
# Usage: tools/train/run.sh 2026-11-23T22:20 [DATA_DIR]      (log: DATA_DIR/train.log)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
deadline=$1
data=${2:-/work/data}
python="$repo/tools/.venv/bin/python"
# One torch thread + 2 OpenBLAS threads measured fastest on the 2-core build machine.
export OPENBLAS_NUM_THREADS=2 HF_HUB_OFFLINE=1

"$python" "$here/prepare.py" --corpus "$data/corpus" --tok-dir "$data/tok" --out "$data/encoded.pt"
"$python" "$here/train.py" --data "$data/encoded.pt" --ckpt-dir "$data/ckpt" --deadline "$deadline" \
  --lr 7e-4 --warmup 400 --max-tokens 3000 --save-minutes 8 --keep 5 >> "$data/train.log" 2>&1
"$python" "$here/export.py" --ckpt-dir "$data/ckpt" --max-average 4 --data "$data/encoded.pt" --tok-dir "$data/tok" --out "$repo/models/en-de"
"$python" "$here/evaluate.py" --beams 1 4 --out-dir "$data/eval" --samples 20
