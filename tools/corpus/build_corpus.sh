#!/usr/bin/env bash
# Downloads the packages of packages.txt (apt-get download, never installed), extracts their German
# catalogs, writes the version manifest and builds the EN->DE corpus.
# Usage: tools/corpus/build_corpus.sh [DATA_DIR]   (default /work/data; nothing large goes into the repo)
# With models/en-de/MANIFEST.txt present, the exact versions listed there are downloaded
# (set FRESH=1 to take the current candidates instead and rewrite the manifest).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
data=${1:-/work/data}
manifest="$repo/models/en-de/MANIFEST.txt"
python="$repo/tools/.venv/bin/python"
mkdir -p "$data/debs" "$data/mo"

mapfile -t pkgs < <(grep -v '^#' "$here/packages.txt" | awk 'NF {print $2}')
specs=()
for p in "${pkgs[@]}"; do
  v=""
  [ -f "$manifest" ] && [ -z "${FRESH:-}" ] && v=$(awk -v p="$p" '$1 == p {print $2}' "$manifest")
  specs+=("$p${v:+=$v}")
done
# apt-get download warns about the _apt sandbox when run as root; harmless.
(cd "$data/debs" && printf '%s\n' "${specs[@]}" | xargs -P4 -n8 apt-get download -q 2>&1 | grep -v '^Get:\|unsandboxed' || true)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo "# Debian 12 binary packages whose usr/share/locale/de/LC_MESSAGES/*.mo built the corpus."
  echo "# package version sha256(.deb) split"
  for p in "${pkgs[@]}"; do
    deb=$(ls -t "$data/debs/${p}"_*.deb | head -1)
    v=$(dpkg-deb -f "$deb" Version)
    split=$(awk -v p="$p" '$2 == p {print $1}' "$here/packages.txt")
    echo "$p $v $(sha256sum "$deb" | cut -c1-64) $split"
    rm -rf "$data/mo/$p" "$tmp/x" && mkdir -p "$data/mo/$p" "$tmp/x"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards './usr/share/locale/de/LC_MESSAGES/*.mo'
    cp "$tmp/x/usr/share/locale/de/LC_MESSAGES/"*.mo "$data/mo/$p/"
  done
} > "$tmp/manifest"
mkdir -p "$(dirname "$manifest")"
cp "$tmp/manifest" "$manifest"

"$python" "$here/build_corpus.py" --mo-dir "$data/mo" --out-dir "$data/corpus"
# The held-out test set and per-catalog counts are small and committed (other programs are scored on it).
mkdir -p "$repo/models/en-de/testset"
cp "$data/corpus/test.en" "$data/corpus/test.de" "$repo/models/en-de/testset/"
cp "$data/corpus/stats.tsv" "$repo/models/en-de/corpus_stats.tsv"
