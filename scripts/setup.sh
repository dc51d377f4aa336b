#!/usr/bin/env bash
# Installs what libmeshgpt needs to build and test on Debian 12 (bookworm).
# Safe to run again: apt-get skips what is already there. --list prints the packages.
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libvulkan-dev            # Vulkan headers and loader
    mesa-vulkan-drivers      # lavapipe: Vulkan on the CPU, for machines without a GPU
    vulkan-validationlayers  # the tests run under VK_LAYER_KHRONOS_validation
    glslang-tools            # glslangValidator compiles the shaders at build time
    libcglm-dev libcjson-dev # math and JSON for the model code
    zlib1g-dev               # inflating deflated entries of PyTorch checkpoints
    libcriterion-dev         # the C test framework
    clang libclang-rt-14-dev # libFuzzer harnesses (scripts/fuzz.sh)
    blender                  # the add-on's headless tests (Debian 12: Blender 3.4)
    xvfb xauth               # the add-on's screenshot test (a display server for Blender's window)
)

if [ "${1:-}" = "--list" ]; then
    echo "${packages[*]}"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup.sh: no apt-get here; install the equivalents of: ${packages[*]}" >&2
    exit 1
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup.sh: all packages are installed"
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
