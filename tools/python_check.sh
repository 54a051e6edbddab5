#!/usr/bin/env bash
# Builds the Python module and the CLI in one build directory (-DVKFORMER_PYTHON=ON) and runs the pytest
# tests (tests/python) with tools/.venv's Python and validation layers on.
# Usage: tools/python_check.sh [--pip] [BUILD_DIR] (default build-py; kept, so a second run is incremental).
# --pip also builds a wheel as `pip install .` does (scikit-build-core, pyproject.toml), in BUILD_DIR/wheel,
# installs it into BUILD_DIR/site and runs the tests against that.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pip_too=0
if [ "${1:-}" = --pip ]; then pip_too=1; shift; fi
build=$(realpath -m "${1:-$root/build-py}")
python=$root/tools/.venv/bin/python
jobs=${JOBS:-2}
if ! "$python" -c "import pytest, scikit_build_core" 2> /dev/null; then
  echo "python_check: tools/.venv lacks pytest or scikit-build-core: run tools/setup_venv.sh" >&2
  exit 1
fi

mkdir -p "$build"
# An existing build directory (CI passes build/) keeps its options and gains the module: its library is
# position-independent already, so only the module is compiled.
options=(-DVKFORMER_PYTHON=ON -DPython_EXECUTABLE="$python")
[ -f "$build/CMakeCache.txt" ] ||
  options+=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKFORMER_BUILD_TESTS=OFF -DVKFORMER_BUILD_TOOLS=OFF)
cmake -S "$root" -B "$build" "${options[@]}" > "$build/configure.log" || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target _vkformer vkformer_cli

export VKFORMER_VALIDATION=1 VKFORMER_CACHE_DIR="$build/pipeline-cache" VKFORMER_CLI="$build/vkformer"
unset VKFORMER_MODEL VKFORMER_DEVICE
echo "== pytest, the module of $build"
PYTHONPATH="$build/python" "$python" -m pytest -q -p no:cacheprovider "$root/tests/python"

if [ "$pip_too" = 1 ]; then
  echo "== pip wheel . (scikit-build-core), installed into $build/site"
  rm -rf "$build/wheel" "$build/site"
  CMAKE_BUILD_PARALLEL_LEVEL=$jobs "$python" -m pip wheel --no-build-isolation --no-deps --disable-pip-version-check -q -w "$build/wheel" \
    --config-settings=build-dir="$build/skbuild" "$root"
  "$python" -m pip install --no-deps --disable-pip-version-check -q --target "$build/site" "$build"/wheel/vkformer-*.whl
  (cd "$build" && PYTHONPATH="$build/site" "$python" -m pytest -q -p no:cacheprovider "$root/tests/python")
fi
echo "python_check: OK"
