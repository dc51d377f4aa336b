#!/usr/bin/env bash
# Sets up, builds and runs every test: the Criterion suite on Vulkan (lavapipe
# where there is no GPU) under the Khronos validation layer, the same suite
# built with AddressSanitizer + UndefinedBehaviorSanitizer, and a check that
# the installed library, header, pkg-config file and CMake package work.
#   scripts/test.sh            everything
#   SKIP_SETUP=1 scripts/test.sh   without apt-get
#   FUZZ_SECONDS=N scripts/test.sh  fuzz each parser N seconds (default 20; 0 skips)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

if [ "${SKIP_SETUP:-0}" != 1 ]; then
    scripts/setup.sh
fi
# Mesa's WSI complains on stderr when this is unset, even for compute-only use.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$jobs"
# -O3 analyses more than -O2 and warns about more (truncation, maybe-uninitialized): a user's Release build
# must compile too. The library and the CLI only; the tests run on the build above.
echo "== build (Release: library and CLI)"
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$jobs" --target meshgpt meshgpt_cli
echo "== devices"
./build/meshgpt devices
echo "== tests"
(cd build && ctest --output-on-failure -j "$jobs")

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMESHGPT_SANITIZE=ON
cmake --build build-asan -j "$jobs"
echo "== tests under the sanitizers"
(cd build-asan && ctest --output-on-failure -j "$jobs")

# Every file parser under libFuzzer for a short while (FUZZ_SECONDS per harness; 0 skips).
if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
    scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
fi

echo "== install check"
stage="$root/build/stage"
rm -rf "$stage"
cmake --install build --prefix "$stage" >/dev/null
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat >"$probe/probe.c" <<'C'
#include <meshgpt.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    mg_context_params params = mg_context_default_params();
    params.device = "cpu";
    mg_context *ctx = NULL;
    char error[256];
    if (mg_context_create(&params, &ctx, error, sizeof error) != MG_OK) {
        fprintf(stderr, "%s\n", error);
        return 1;
    }
    mg_context_destroy(ctx);
    printf("%s\n", mg_version());
    return strcmp(mg_version(), MESHGPT_EXPECTED) != 0;
}
C
version=$(sed -n 's/^project(meshgpt VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
PKG_CONFIG_PATH="$stage/lib/pkgconfig:$stage/lib/x86_64-linux-gnu/pkgconfig" \
    cc -std=c11 -DMESHGPT_EXPECTED="\"$version\"" "$probe/probe.c" -o "$probe/probe" \
    $(PKG_CONFIG_PATH="$stage/lib/pkgconfig:$stage/lib/x86_64-linux-gnu/pkgconfig" pkg-config --cflags --libs meshgpt)
LD_LIBRARY_PATH="$stage/lib:$stage/lib/x86_64-linux-gnu" "$probe/probe"
mkdir -p "$probe/cmake"
cat >"$probe/cmake/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.20)
project(probe C)
find_package(meshgpt REQUIRED)
add_executable(probe ../probe.c)
target_compile_definitions(probe PRIVATE MESHGPT_EXPECTED="${MESHGPT_EXPECTED}")
target_link_libraries(probe PRIVATE meshgpt::meshgpt)
CM
cmake -S "$probe/cmake" -B "$probe/cmake/build" -DCMAKE_PREFIX_PATH="$stage" -DMESHGPT_EXPECTED="$version" >/dev/null
cmake --build "$probe/cmake/build" >/dev/null
"$probe/cmake/build/probe"
echo "== all tests passed"
