#!/usr/bin/env bash
# Checks the C++ package of an existing build directory, as a project that uses it takes it (CI runs it
# after the tests; about a minute, nothing of the library is compiled again):
#  1. docs/API.md's example program is examples/cpp/main.cpp, word for word;
#  2. `cmake --install` into a temporary prefix holds the public headers (include/vkformer) and no other;
#  3. examples/cpp builds against that prefix with find_package(vkformer 0.1) and translates as the build's
#     CLI does, with validation layers on; bad input is one error line and exit status 1.
# tools/package_check.sh checks more (add_subdirectory, a moved prefix, a Debug consumer) but builds the
# library twice. Usage: tools/install_check.sh [BUILD_DIR] (default build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath "${1:-$root/build}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset VKFORMER_MODEL VKFORMER_DEVICE
export VKFORMER_VALIDATION=1 VKFORMER_CACHE_DIR="$build/pipeline-cache"
model=$root/models/en-de
sentences=("Could not open file %s" "Permission denied" "The disk is full, and the file was not saved.")
fail() { echo "install_check: FAIL: $*" >&2; exit 1; }

echo "== docs/API.md's example is examples/cpp/main.cpp"
awk '/^```cpp$/ {inside = 1; next} /^```$/ && inside {exit} inside' "$root/docs/API.md" > "$work/api_example.cpp"
[ -s "$work/api_example.cpp" ] || fail "docs/API.md has no \`\`\`cpp block"
diff -u "$root/examples/cpp/main.cpp" "$work/api_example.cpp" || fail "docs/API.md's example differs from examples/cpp/main.cpp"

echo "== cmake --install $build"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }
diff -u <(cd "$root/include" && find vkformer | sort) <(cd "$work/prefix/include" && find vkformer | sort) ||
  fail "the installed headers are not include/vkformer's"

echo "== examples/cpp against it, with find_package(vkformer 0.1)"
cmake -S "$root/examples/cpp" -B "$work/example" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" \
      > "$work/configure.log" || { cat "$work/configure.log"; fail "find_package(vkformer)"; }
cmake --build "$work/example" > "$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "building examples/cpp"; }
example=$work/example/translate_example
"$example" "$model" "${sentences[@]}" > "$work/example.out" 2> "$work/example.err" ||
  { cat "$work/example.err" >&2; fail "the example failed"; }
"$build/vkformer" translate --model "$model" "${sentences[@]}" > "$work/cli.out"
diff -u "$work/cli.out" "$work/example.out" || fail "the example's translations differ from the CLI's"
# Validation messages are printed to stderr.
[ ! -s "$work/example.err" ] || { cat "$work/example.err" >&2; fail "the example wrote to stderr"; }
echo "$(wc -l < "$work/example.out") translations equal to the CLI's, no validation message"

echo "== bad input: one error line, exit status 1"
bad_input() {
  local status=0
  "$example" "$@" > /dev/null 2> "$work/bad.err" || status=$?
  [ "$status" = 1 ] && [ "$(wc -l < "$work/bad.err")" = 1 ] || { cat "$work/bad.err"; fail "$*: exit status $status"; }
  cat "$work/bad.err"
}
bad_input "$model" $'caf\xe9'
grep -q "source\[0\]: input is not valid UTF-8" "$work/bad.err" || fail "invalid UTF-8: not the expected message"
bad_input "$work/no-such-model" "hello"
echo "install_check: OK"
