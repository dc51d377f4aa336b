#!/usr/bin/env bash
# meshgpt tokenize -> decode -> reconstruct on sample meshes with the fixture model, on the CPU
# reference (fast, no Vulkan needed). Checks exit codes, what is printed and the files written.
#   tests/cli/tokenize.sh MESHGPT_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
cli=$1 source=$2 work=$3
model=$source/tests/fixtures/meshgpt-pytorch-a/model.safetensors
rm -rf "$work"
mkdir -p "$work"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# The number after KEY in a token file (one "key": value per line, as mg_tokens_write_json writes).
json_number() {
    sed -n "s/^ *\"$2\": *\([0-9-]*\),*$/\1/p" "$1"
}

for mesh in cube.obj table.obj; do
    name=${mesh%.obj}
    out=$("$cli" tokenize "$source/assets/meshes/$mesh" -m "$model" -o "$work/$name.tokens.json" -d cpu) ||
        fail "tokenize $mesh exited with $?"
    echo "$out"
    # cube: 12 triangles; table: 30 quads read as 60 triangles for this triangle model.
    faces=$([ "$name" = cube ] && echo 12 || echo 60)
    [[ "$out" == *"$faces faces -> $((faces * 6)) tokens"* ]] || fail "tokenize $mesh printed: $out"
    tokens=$work/$name.tokens.json
    [ -s "$tokens" ] || fail "no token file for $mesh"
    grep -q '"format": "meshgpt-tokens"' "$tokens" || fail "$tokens has no format line"
    grep -q "\"model\": \".*model.safetensors\"" "$tokens" || fail "$tokens does not name the model"
    [ "$(json_number "$tokens" faces)" = "$faces" ] || fail "$tokens: faces is not $faces"
    [ "$(json_number "$tokens" levels)" = 2 ] || fail "$tokens: levels is not 2"
    [ "$(json_number "$tokens" face_size)" = 3 ] || fail "$tokens: face_size is not 3"
    # One line per face, each with face_size x levels = 6 tokens in [0, 256).
    lines=$(grep -cE '^ *[0-9]+(, [0-9]+){5},?$' "$tokens")
    [ "$lines" = "$faces" ] || fail "$tokens has $lines token lines, expected $faces"
    if grep -oE '[0-9]+' <(grep -E '^ *[0-9]+(, [0-9]+){5},?$' "$tokens") | awk '$1 >= 256 { bad = 1 } END { exit !bad }'; then
        fail "$tokens holds a token outside [0, 256)"
    fi

    out=$("$cli" decode "$tokens" -m "$model" -o "$work/$name.decoded.obj" -d cpu) || fail "decode $name exited with $?"
    echo "$out"
    [[ "$out" == *"$faces faces decoded (0 with missing tokens left out)"* ]] || fail "decode $name printed: $out"
    [ "$(grep -c '^f ' "$work/$name.decoded.obj")" = "$faces" ] || fail "$name.decoded.obj does not hold $faces faces"
    grep -q '^v ' "$work/$name.decoded.obj" || fail "$name.decoded.obj has no vertices"
    # Without welding: one vertex per corner.
    "$cli" decode "$tokens" -m "$model" -o "$work/$name.corners.obj" --no-weld -d cpu >/dev/null ||
        fail "decode --no-weld $name exited with $?"
    [ "$(grep -c '^v ' "$work/$name.corners.obj")" = "$((faces * 3))" ] || fail "--no-weld did not keep every corner"

    out=$("$cli" reconstruct "$source/assets/meshes/$mesh" -m "$model" -o "$work/$name.reconstructed.obj" -d cpu) ||
        fail "reconstruct $mesh exited with $?"
    echo "$out"
    [[ "$out" == *"$faces faces, $((faces * 6)) tokens"* ]] || fail "reconstruct $mesh printed: $out"
    [[ "$out" == *"per-vertex reconstruction error: mean "* ]] || fail "reconstruct $mesh printed no error"
    [[ "$out" == *"faces recovered exactly: "*" of $faces "* ]] || fail "reconstruct $mesh printed no exact share"
    [ "$(grep -c '^f ' "$work/$name.reconstructed.obj")" = "$faces" ] || fail "$name.reconstructed.obj: wrong face count"
done

# A missing token in the file: that face is left out of the decoded mesh.
sed '0,/^    [0-9]*,/s/^    [0-9]*,/    -1,/' "$work/cube.tokens.json" >"$work/cube.missing.json"
grep -q '^    -1,' "$work/cube.missing.json" || fail "could not blank a token"
out=$("$cli" decode "$work/cube.missing.json" -m "$model" -o "$work/cube.missing.obj" -d cpu) ||
    fail "decode with a missing token exited with $?"
[[ "$out" == *"11 faces decoded (1 with missing tokens left out)"* ]] || fail "decode with a missing token printed: $out"
[ "$(grep -c '^f ' "$work/cube.missing.obj")" = 11 ] || fail "cube.missing.obj does not hold 11 faces"

# Tokens and preprocessing: --preprocess none gives other tokens for the same cube (its order is not the model's).
"$cli" tokenize "$source/assets/meshes/cube.obj" -m "$model" -o "$work/cube.none.json" --preprocess none -d cpu \
    >/dev/null || fail "tokenize --preprocess none exited with $?"
[ "$(json_number "$work/cube.none.json" faces)" = 12 ] || fail "--preprocess none: faces is not 12"
echo "cli tokenize/decode/reconstruct: ok"
