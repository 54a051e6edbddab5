#!/usr/bin/env bash
# Creates tools/.venv on Debian's python3 (with its torch, numpy, sentencepiece) plus the pinned PyPI
# packages the Python tools use. The C++ build and its tests never need this.
#   tools/setup_venv.sh [--ray]   # --ray: also Ray Data, for examples/ray_translate.py and tools/ray_check.sh
set -euo pipefail
ray=0
if [ "${1:-}" = --ray ]; then ray=1; fi
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
apt_packages=(python3-torch python3-sentencepiece python3-numpy python3-venv python3-pip)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
# The Python module: `pip install --no-build-isolation .` builds with scikit-build-core (pyproject.toml pins
# the same version for isolated builds); tools/python_check.sh runs its tests with pytest.
"$venv/bin/python" -m pip install -q --disable-pip-version-check scikit-build-core==0.10.7 pytest==8.3.5
# examples/ray_translate.py and tools/ray_check.sh (not CI's: about 200 MB). numpy and protobuf pinned so
# that pip keeps Debian's numpy (torch 1.13 is built against it) and Ray's generated protobuf code matches
# the runtime.
if [ "$ray" = 1 ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "ray[data]==2.40.0" pandas==2.2.3 pyarrow==17.0.0 \
    protobuf==4.25.5 numpy==1.24.2
fi
