#!/usr/bin/env bash
# meshgpt tokenize / decode / info on bad input: each exits non-zero with a message on stderr that says
# what is wrong, and prints nothing on stdout.
#   tests/cli/bad_input.sh MESHGPT_BINARY SOURCE_DIR WORK_DIR
set -uo pipefail
cli=$1 source=$2 work=$3
model=$source/tests/fixtures/meshgpt-pytorch-a/model.safetensors
rm -rf "$work"
mkdir -p "$work"
failed=0

# expect EXPECTED_TEXT_ON_STDERR COMMAND...
expect() {
    local text=$1
    shift
    "$@" >"$work/stdout" 2>"$work/stderr"
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "FAIL: exit 0 from: $*" >&2
        failed=1
    elif ! grep -qF -- "$text" "$work/stderr"; then
        echo "FAIL: stderr of '$*' does not say '$text':" >&2
        cat "$work/stderr" >&2
        failed=1
    elif grep -qE "Sanitizer|runtime error:" "$work/stderr"; then
        echo "FAIL: a sanitizer reported on '$*':" >&2
        cat "$work/stderr" >&2
        failed=1
    elif [ -s "$work/stdout" ]; then
        echo "FAIL: '$*' printed on stdout:" >&2
        cat "$work/stdout" >&2
        failed=1
    else
        echo "ok (exit $rc): $* -> $(head -n 1 "$work/stderr")"
    fi
}

expect "missing.obj" "$cli" tokenize "$work/missing.obj" -m "$model" -o "$work/t.json" -d cpu
expect "missing.safetensors" "$cli" tokenize "$source/assets/meshes/cube.obj" -m "$work/missing.safetensors" \
    -o "$work/t.json" -d cpu
expect "give an input file, a model (-m) and an output file (-o)" "$cli" tokenize \
    "$source/assets/meshes/cube.obj" -d cpu
expect "--preprocess takes" "$cli" tokenize "$source/assets/meshes/cube.obj" -m "$model" -o "$work/t.json" \
    --preprocess sometimes -d cpu
printf 'v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n' >"$work/bad_index.obj"
expect "bad_index.obj" "$cli" tokenize "$work/bad_index.obj" -m "$model" -o "$work/t.json" -d cpu
printf '{"format": "meshgpt-tokens", "version": 2}' >"$work/v2.json"
expect "\"version\" is 2" "$cli" decode "$work/v2.json" -m "$model" -o "$work/d.obj" -d cpu
expect "missing.json" "$cli" decode "$work/missing.json" -m "$model" -o "$work/d.obj" -d cpu
printf '{"format": "meshgpt-tokens", "version": 1, "levels": 1, "face_size": 3, "faces": 1, "tokens": [1, 2, 3]}' \
    >"$work/one_level.json"
expect "levels" "$cli" decode "$work/one_level.json" -m "$model" -o "$work/d.obj" -d cpu
expect "missing.safetensors" "$cli" info "$work/missing.safetensors"
[ ! -e "$work/t.json" ] || { echo "FAIL: a failed tokenize left $work/t.json" >&2; failed=1; }
exit $failed
