#!/usr/bin/env bash
# Installs the Debian packages, builds, and runs the whole test suite (validation layers on).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
# -j2: tests must not share temporary files (the CLI tests once did).
cd build && ctest -j2 --output-on-failure
