#!/usr/bin/env bash
# Builds the libFuzzer harnesses (every tests/fuzz/fuzz_*.c) with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer in build-fuzz/, then runs each
# for SECONDS over a copy of its seeds (tests/fuzz/corpus/NAME/, NAME = the file
# name without "fuzz_"), several side by side. Fails on any crash, leak,
# sanitizer report or slow input, and says where the input was saved.
#   scripts/fuzz.sh [SECONDS_PER_HARNESS]   default 20
#   FUZZ_JOBS=N        harnesses run at once (default: the number of cores)
#   FUZZ_MAX_LEN=N     largest input tried (default 16384, or the largest seed)
#   FUZZ_FILTER=TEXT   only harnesses whose name contains TEXT
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-20}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
build=build-fuzz
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz.sh: clang is not installed (scripts/setup.sh installs it)" >&2
    exit 1
fi
echo "== build the fuzz harnesses (clang, libFuzzer, ASan + UBSan) in $build"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMESHGPT_FUZZ=ON -DMESHGPT_BUILD_TESTS=OFF \
    >/dev/null
cmake --build "$build" -j "$jobs"

harnesses=()
for source in tests/fuzz/fuzz_*.c; do
    name=$(basename "$source" .c)
    if [ -n "${FUZZ_FILTER:-}" ] && [[ "$name" != *"$FUZZ_FILTER"* ]]; then
        continue
    fi
    harnesses+=("$name")
done
if [ ${#harnesses[@]} -eq 0 ]; then
    echo "fuzz.sh: no harness to run" >&2
    exit 1
fi

run_one() {
    local name=$1 corpus_name=${1#fuzz_}
    local work="$root/$build/fuzz-run/$corpus_name"
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    # A copy: what the fuzzer adds stays out of the source tree.
    if [ -d "tests/fuzz/corpus/$corpus_name" ]; then
        cp -R "tests/fuzz/corpus/$corpus_name/." "$work/corpus/"
    fi
    local max_len=${FUZZ_MAX_LEN:-16384} largest
    largest=$(find "$work/corpus" -type f -printf '%s\n' | sort -n | tail -n 1)
    if [ -n "$largest" ] && [ "$largest" -gt "$max_len" ]; then
        max_len=$largest
    fi
    local dict=()
    if [ -f "tests/fuzz/$name.dict" ]; then
        dict=(-dict="tests/fuzz/$name.dict")
    fi
    "$build/tests/fuzz/$name" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len="$max_len" -timeout=10 \
        -artifact_prefix="$work/artifacts/" -print_final_stats=1 "${dict[@]}" "$work/corpus" >"$work/log" 2>&1
}

report() {
    local name=$1 status=$2 corpus_name=${1#fuzz_}
    local work="$build/fuzz-run/$corpus_name"
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
    if [ "$status" -eq 0 ]; then
        echo "   $name: ok, ${runs:-?} inputs in ${seconds} s"
        return 0
    fi
    echo "!! $name FAILED (exit $status); the end of its log ($work/log):"
    tail -n 40 "$work/log" | sed 's/^/   /'
    for input in "$work"/artifacts/*; do
        [ -e "$input" ] || continue
        echo "!! $name: the input is saved as $input"
        echo "   reproduce with: $build/tests/fuzz/$name $input"
    done
    return 1
}

echo "== fuzz ${#harnesses[@]} harnesses for $seconds s each, $jobs at a time"
failed=0
declare -A pid_name=()
for name in "${harnesses[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        sleep 0.2
        for pid in "${!pid_name[@]}"; do
            if ! kill -0 "$pid" 2>/dev/null; then
                status=0
                wait "$pid" || status=$?
                report "${pid_name[$pid]}" "$status" || failed=1
                unset "pid_name[$pid]"
            fi
        done
    done
    run_one "$name" &
    pid_name[$!]=$name
done
for pid in "${!pid_name[@]}"; do
    status=0
    wait "$pid" || status=$?
    report "${pid_name[$pid]}" "$status" || failed=1
done
if [ "$failed" -ne 0 ]; then
    echo "== fuzzing found problems (see above)"
    exit 1
fi
echo "== fuzzing found nothing"
