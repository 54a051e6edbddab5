#!/usr/bin/env bash
# Checks vkformer as a C++ package, as a project that uses it would take it:
#  1. docs/API.md's example program is examples/cpp/main.cpp, word for word;
#  2. examples/cpp builds against the source tree with add_subdirectory(), and translates as the CLI does;
#  3. that build's `cmake --install` gives a relocatable prefix (library, headers, CLI, model, CMake
#     package); examples/cpp builds against it with find_package(vkformer 0.1), in Debug (no NDEBUG,
#     unlike the library), and translates the same; bad input is one error line and exit status 1.
# Usage: tools/package_check.sh [BUILD_DIR] (default build-pkg; kept, so a second run is incremental).
# VKFORMER_SHARED=ON checks the shared library instead of the static one.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$root/build-pkg}")
shared=${VKFORMER_SHARED:-OFF}
jobs=${JOBS:-2}
unset VKFORMER_MODEL VKFORMER_DEVICE
export VKFORMER_VALIDATION=1 VKFORMER_CACHE_DIR="$build/pipeline-cache"
sentences=("Could not open file %s" "Permission denied" "The disk is full, and the file was not saved.")
fail() { echo "package_check: FAIL: $*" >&2; exit 1; }

echo "== docs/API.md's example is examples/cpp/main.cpp"
mkdir -p "$build"
awk '/^```cpp$/ {inside = 1; next} /^```$/ && inside {exit} inside' "$root/docs/API.md" > "$build/api_example.cpp"
[ -s "$build/api_example.cpp" ] || fail "docs/API.md has no \`\`\`cpp block"
diff -u "$root/examples/cpp/main.cpp" "$build/api_example.cpp" || fail "docs/API.md's example differs from examples/cpp/main.cpp"

# Runs an example binary and the CLI on the same sentences; the output must be equal and stderr empty
# (validation layers are on: any message is printed there).
check_translation() {
  local example=$1 model=$2 cli=$3 what=$4
  "$example" "$model" "${sentences[@]}" > "$build/example.out" 2> "$build/example.err" || {
    cat "$build/example.err" >&2; fail "$what: the example failed"; }
  "$cli" translate --model "$model" "${sentences[@]}" > "$build/cli.out"
  diff -u "$build/cli.out" "$build/example.out" || fail "$what: the example's translations differ from the CLI's"
  [ ! -s "$build/example.err" ] || { cat "$build/example.err" >&2; fail "$what: the example wrote to stderr"; }
  echo "$what: $(wc -l < "$build/example.out") translations equal to the CLI's, no validation message"
}

echo "== add_subdirectory(vkformer) (VKFORMER_SHARED=$shared)"
cmake -S "$root/examples/cpp" -B "$build/subdir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKFORMER_SOURCE_DIR="$root" \
      -DVKFORMER_INSTALL=ON -DVKFORMER_SHARED="$shared" > "$build/subdir-configure.log" ||
  { cat "$build/subdir-configure.log"; fail "configuring examples/cpp with add_subdirectory"; }
cmake --build "$build/subdir" -j "$jobs" > "$build/subdir-build.log" 2>&1 ||
  { tail -40 "$build/subdir-build.log"; fail "building examples/cpp with add_subdirectory"; }
check_translation "$build/subdir/translate_example" "$root/models/en-de" "$build/subdir/vkformer/vkformer" \
                  "add_subdirectory"

echo "== cmake --install, moved elsewhere, then find_package(vkformer 0.1)"
rm -rf "$build/stage" "$build/prefix" "$build/installed"
cmake --install "$build/subdir" --prefix "$build/stage" > "$build/install.log"
mv "$build/stage" "$build/prefix"  # relocatable: nothing may point into the stage directory
prefix=$build/prefix
for file in include/vkformer/translator.hpp bin/vkformer share/vkformer/models/en-de/model.safetensors \
            share/vkformer/models/en-de/LICENSE share/doc/vkformer/LICENSE \
            lib/cmake/vkformer/vkformerConfig.cmake lib/cmake/vkformer/vkformerConfigVersion.cmake; do
  [ -e "$prefix/$file" ] || fail "the install has no $file"
done
if [ "$shared" = ON ]; then library=$prefix/lib/libvkformer.so; else library=$prefix/lib/libvkformer.a; fi
[ -e "$library" ] || fail "the install has no $library"
! grep -rqs "$build/stage" "$prefix/lib/cmake" || fail "the CMake package names the directory it was installed to"
# A Debug consumer of a RelWithDebInfo library: NDEBUG must not change what the headers declare.
cmake -S "$root/examples/cpp" -B "$build/installed" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_PREFIX_PATH="$prefix" \
      > "$build/installed-configure.log" || { cat "$build/installed-configure.log"; fail "find_package(vkformer)"; }
cmake --build "$build/installed" -j "$jobs" > "$build/installed-build.log" 2>&1 ||
  { tail -40 "$build/installed-build.log"; fail "building examples/cpp against the installed package"; }
# The installed CLI finds the installed model (../share/vkformer/models/en-de) by itself.
(cd / && "$prefix/bin/vkformer" translate "${sentences[0]}" > "$build/cli-default.out")
check_translation "$build/installed/translate_example" "$prefix/share/vkformer/models/en-de" "$prefix/bin/vkformer" \
                  "find_package"
diff <(head -1 "$build/cli.out") "$build/cli-default.out" > /dev/null || fail "the installed CLI's default model translates differently"

echo "== bad input: one error line, exit status 1"
status=0
"$build/installed/translate_example" "$prefix/share/vkformer/models/en-de" $'caf\xe9' > /dev/null 2> "$build/bad.err" || status=$?
[ "$status" = 1 ] || fail "invalid UTF-8: exit status $status, not 1"
[ "$(wc -l < "$build/bad.err")" = 1 ] && grep -q "not valid UTF-8" "$build/bad.err" || { cat "$build/bad.err"; fail "invalid UTF-8: not one error line"; }
status=0
"$build/installed/translate_example" "$build/no-such-model" "hello" > /dev/null 2> "$build/bad.err" || status=$?
[ "$status" = 1 ] && [ "$(wc -l < "$build/bad.err")" = 1 ] || { cat "$build/bad.err"; fail "a missing model: exit status $status"; }
echo "bad input: $(cat "$build/bad.err")"
echo "package_check: OK"
