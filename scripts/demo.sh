#!/usr/bin/env bash
# Installs the Debian packages, builds, and translates a few sentences with the shipped en-de model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target vkformer_cli
./build/vkformer devices
./build/vkformer translate "could not open file %s" "Permission denied" "Do you want to continue?" \
  "The file has been saved." "No such file or directory"
