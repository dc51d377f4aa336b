#!/usr/bin/env bash
# meshgpt dataset primitives and meshgpt eval (mesh, tokenizer, generate) on the fixture model (random
# weights: the numbers mean nothing, the test checks the commands run, agree with their files and fail
# cleanly on bad input). CPU reference, a few shapes and faces only.
#   tests/cli/dataset_eval.sh MESHGPT_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
cli=$1 source=$2 work=$3
fixture=$source/tests/fixtures/meshgpt-pytorch-a
model=$fixture/model.safetensors
rm -rf "$work"
mkdir -p "$work"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A data set: 38 shapes (two of each class), OBJ files plus captions.json and labels.json.
out=$("$cli" dataset primitives -o "$work/set" --count 38 --seed 4) || fail "dataset exited with $?"
echo "$out"
[[ "$out" == *"wrote 38 shapes of 19 classes"* ]] || fail "dataset printed: $out"
[ "$(ls "$work/set"/*.obj | wc -l)" = 38 ] || fail "not 38 OBJ files"
# A shape's captions: its caption, then shorter true forms ending with the bare noun.
grep -qE '"chair_0017.obj":[[:space:]]*\[[[:space:]]*"a chair with a [a-z ]*back",[[:space:]]*"a chair"\]' \
    "$work/set/captions.json" || fail "captions.json lacks chair_0017.obj's captions"
grep -qE '"class":[[:space:]]*"stool"' "$work/set/labels.json" || fail "labels.json lacks the class stool"
# Deterministic per seed.
"$cli" dataset primitives -o "$work/again" --count 38 --seed 4 >/dev/null
diff -r "$work/set" "$work/again" >/dev/null || fail "the same seed wrote different files"

# eval mesh: every generated shape is valid and watertight.
out=$("$cli" eval mesh "$work/set"/*.obj --json "$work/mesh.json") || fail "eval mesh exited with $?"
[[ "$out" == *"valid: 38 of 38"* ]] || fail "eval mesh: $out"
[ "$(grep -c '"watertight": true' "$work/mesh.json")" = 38 ] || fail "mesh.json: not 38 watertight meshes"
# An open box (the cube without its last face) is not watertight.
head -n -1 "$source/assets/meshes/cube.obj" >"$work/open.obj"
out=$("$cli" eval mesh "$work/open.obj" --json "$work/open.json")
echo "$out"
grep -q '"watertight": false' "$work/open.json" || fail "an open box was reported watertight"

# eval tokenizer: runs over the set and writes its totals.
out=$("$cli" eval tokenizer -m "$model" --data "$work/set" --limit 6 --points 200 -d cpu --json "$work/tok.json") ||
    fail "eval tokenizer exited with $?"
echo "$out"
[[ "$out" == *"all "*" 6 "* ]] || fail "eval tokenizer printed: $out"
grep -q '"total": {"class": "all", "meshes": 6' "$work/tok.json" || fail "tok.json lacks the total of 6 meshes"

# eval generate: 2 samples of 3 faces for two classes (the fixture's embedding stands in for prompts). The set
# has 2 shapes of each class: the nearest class is sought among all 4, the set metrics use 2 per class too.
out=$("$cli" eval generate -m "$model" --data "$work/set" --text-embedding "$fixture/cases/text_embeds.npy" \
    --classes cube,chair --samples 2 --max-faces 3 --points 64 -d cpu --json "$work/gen.json") ||
    fail "eval generate exited with $?"
echo "$out"
[[ "$out" == *"nearest: among 4 reference shapes (all of the data set's)"* ]] || fail "eval generate printed: $out"
[[ "$out" == *"against 4 reference shapes: coverage"* ]] || fail "eval generate printed: $out"
grep -q '"nearest_references": 4,' "$work/gen.json" || fail "gen.json lacks nearest_references"
grep -q '"references": 4,' "$work/gen.json" || fail "gen.json lacks references"
# Each class's nearest-class counts add up to its non-empty samples, its own class's count is nearest_same_class,
# and every miss is listed on the "nearest another class's shape" line.
grep -oE '"class": "[a-z_]+", "samples": [0-9]+.*' "$work/gen.json" | while read -r line; do
    class=$(echo "$line" | sed -E 's/"class": "([a-z_]+)".*/\1/')
    samples=$(echo "$line" | sed -E 's/.*"samples": ([0-9]+).*/\1/')
    empty=$(echo "$line" | sed -E 's/.*"empty": ([0-9]+).*/\1/')
    same=$(echo "$line" | sed -E 's/.*"nearest_same_class": ([0-9]+).*/\1/')
    counts=$(echo "$line" | sed -E 's/.*"nearest_class": \{([^}]*)\}.*/\1/')
    total=0 own=0
    for pair in $(echo "$counts" | tr -d ' "' | tr ',' ' '); do
        total=$((total + ${pair#*:}))
        [ "${pair%%:*}" = "$class" ] && own=${pair#*:}
        [ "${pair%%:*}" = "$class" ] || [[ "$out" == *"$class -> ${pair%%:*} ${pair#*:}"* ]] ||
            fail "the miss $class -> $pair is not printed: $out"
    done
    [ "$total" = $((samples - empty)) ] || fail "$class: nearest-class counts add up to $total, not $((samples - empty))"
    [ "$own" = "$same" ] || fail "$class: its own count $own is not nearest_same_class $same"
done || exit 1
# Fewer references of each kind: one per class for the nearest class, one for the set metrics.
out=$("$cli" eval generate -m "$model" --data "$work/set" --text-embedding "$fixture/cases/text_embeds.npy" \
    --classes cube,chair --samples 2 --max-faces 3 --per-class 1 --set-per-class 1 --points 64 -d cpu) ||
    fail "eval generate --per-class 1 --set-per-class 1 exited with $?"
[[ "$out" == *"nearest: among 2 reference shapes (up to --per-class of each class)"* ]] ||
    fail "eval generate --per-class 1 printed: $out"
[[ "$out" == *"against 2 reference shapes: coverage"* ]] || fail "eval generate --set-per-class 1 printed: $out"
grep -q '"samples_per_class": 2' "$work/gen.json" || fail "gen.json lacks samples_per_class"
grep -q '"sampling": {"temperature": 1, "cond_scale": 1, "vertex_reuse": 1, "constrained": true}' "$work/gen.json" ||
    fail "gen.json lacks the default sampling settings: $(grep sampling "$work/gen.json")"
[ "$(grep -c '"class": "c' "$work/gen.json")" = 2 ] || fail "gen.json does not hold two classes"
[[ "$out" == *"distinct"*"spread"* ]] || fail "eval generate printed no distinct/spread columns: $out"
# Each class's distinct samples: at most its 2 samples, at least 1 unless both came out empty.
grep -oE '"empty": [0-9]+, "faces": [0-9]+, "distinct": [0-9]+' "$work/gen.json" | while read -r line; do
    empty=$(echo "$line" | sed -E 's/.*"empty": ([0-9]+).*/\1/')
    distinct=$(echo "$line" | sed -E 's/.*"distinct": ([0-9]+).*/\1/')
    [ "$distinct" -le $((2 - empty)) ] && { [ "$empty" = 2 ] || [ "$distinct" -ge 1 ]; } ||
        fail "gen.json: $distinct distinct samples with $empty empty of 2"
done
[ "$(grep -c '"spread": ' "$work/gen.json")" = 3 ] || fail "gen.json lacks the spread (2 classes and the total)"
# Three loose faces are valid but never closed: no sample is watertight.
grep -q '"watertight_share": 0,' "$work/gen.json" || fail "gen.json: 3-face samples counted as watertight"
[ "$(grep -c '"valid": 2, "watertight": 0,' "$work/gen.json")" = 2 ] || fail "gen.json lacks the per-class watertight"

# Bad input: non-zero exit with a message.
expect() {
    local text=$1
    shift
    if "$@" >"$work/stdout" 2>"$work/stderr"; then
        fail "exit 0 from: $*"
    fi
    grep -qF -- "$text" "$work/stderr" || { cat "$work/stderr" >&2; fail "stderr of '$*' does not say '$text'"; }
}
expect "give an output folder" "$cli" dataset primitives
expect "--count takes" "$cli" dataset primitives -o "$work/x" --count 0
expect "neither labels.json nor captions.json" "$cli" eval tokenizer -m "$model" --data "$work" -d cpu
expect "give one or more mesh files" "$cli" eval mesh
expect "no labelled shapes of those classes" "$cli" eval generate -m "$model" --data "$work/set" --classes nothing \
    --text-embedding "$fixture/cases/text_embeds.npy" -d cpu
expect "unknown subcommand" "$cli" eval everything
echo "cli dataset/eval: ok"
