#!/usr/bin/env bash
# meshgpt generate / score on the fixture model with its precomputed text embedding, on the CPU reference,
# a few faces only (generation runs a whole-sequence forward per token). Checks exit codes, what is printed
# and the files written, and that bad input exits non-zero with a message.
#   tests/cli/generate.sh MESHGPT_BINARY SOURCE_DIR WORK_DIR
set -euo pipefail
cli=$1 source=$2 work=$3
fixture=$source/tests/fixtures/meshgpt-pytorch-a
model=$fixture/model.safetensors
rm -rf "$work"
mkdir -p "$work"
cp "$fixture/cases/text_embeds.npy" "$work/text.npy"
embed=$work/text.npy

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

json_number() {
    sed -n "s/^ *\"$2\": *\([0-9-]*\),*$/\1/p" "$1"
}

# Greedy, 3 faces, with a token file.
out=$("$cli" generate -m "$model" --text-embedding "$embed" --max-faces 3 --temperature 0 -d cpu \
    -o "$work/chair.obj" --tokens-out "$work/chair.json") || fail "generate exited with $?"
echo "$out"
[[ "$out" == *"generated 1 mesh in "*"(18 new tokens, "* ]] || fail "generate printed: $out"
[[ "$out" == *"chair.obj: 3 faces, tokens in $work/chair.json (stopped at the face limit)"* ]] ||
    fail "generate printed: $out"
[ "$(grep -c '^f ' "$work/chair.obj")" = 3 ] || fail "chair.obj does not hold 3 faces"
grep -q '^v ' "$work/chair.obj" || fail "chair.obj has no vertices"
[ "$(json_number "$work/chair.json" faces)" = 3 ] || fail "chair.json: faces is not 3"
[ "$(grep -cE '^ *[0-9]+(, [0-9]+){5},?$' "$work/chair.json")" = 3 ] || fail "chair.json does not hold 3 faces"
# Greedy is deterministic; the same run again gives the same tokens.
"$cli" generate -m "$model" --text-embedding "$embed" --max-faces 3 --temperature 0 -d cpu \
    -o "$work/again.obj" --tokens-out "$work/again.json" >/dev/null || fail "second greedy run exited with $?"
diff <(grep -E '^ *[0-9]+,' "$work/chair.json") <(grep -E '^ *[0-9]+,' "$work/again.json") >/dev/null ||
    fail "two greedy runs gave different tokens"

# Samples: OUT_0.obj, OUT_1.obj and their token files.
out=$("$cli" generate -m "$model" --text-embedding "$embed" --max-faces 2 --samples 2 --seed 7 --top-k 20 \
    --top-p 0.9 --min-p 0.01 -d cpu -o "$work/s.obj" --tokens-out "$work/s.json") || fail "--samples exited with $?"
echo "$out"
[[ "$out" == *"generated 2 meshes"* ]] || fail "--samples printed: $out"
for i in 0 1; do
    [ -s "$work/s_$i.obj" ] || fail "no s_$i.obj"
    [ -s "$work/s_$i.json" ] || fail "no s_$i.json"
done

# Unconstrained (every sampled token kept) with a vertex-reuse weight: options accepted, faces written.
"$cli" generate -m "$model" --text-embedding "$embed" --max-faces 2 --seed 3 --unconstrained --vertex-reuse 4 \
    -d cpu -o "$work/u.obj" >/dev/null || fail "--unconstrained --vertex-reuse exited with $?"
[ "$(grep -c '^f ' "$work/u.obj")" -ge 1 ] || fail "u.obj has no faces"

# A model that recommends greedy sampling: seeds agree unless --temperature overrides the recommendation.
"$cli" convert "$model" -o "$work/greedy.safetensors" --sampling temperature=0 2>/dev/null ||
    fail "convert --sampling exited with $?"
for seed in 1 2; do
    "$cli" generate -m "$work/greedy.safetensors" --text-embedding "$embed" --max-faces 3 --seed $seed -d cpu \
        -o "$work/g$seed.obj" --tokens-out "$work/g$seed.json" >/dev/null || fail "greedy-model seed $seed exited"
    "$cli" generate -m "$work/greedy.safetensors" --text-embedding "$embed" --max-faces 3 --seed $seed \
        --temperature 1 -d cpu -o "$work/h$seed.obj" --tokens-out "$work/h$seed.json" >/dev/null ||
        fail "--temperature 1 seed $seed exited"
done
diff <(grep -E '^ *[0-9]+,' "$work/g1.json") <(grep -E '^ *[0-9]+,' "$work/g2.json") >/dev/null ||
    fail "the model's temperature 0 should make seeds 1 and 2 give the same tokens"
! diff <(grep -E '^ *[0-9]+,' "$work/h1.json") <(grep -E '^ *[0-9]+,' "$work/h2.json") >/dev/null ||
    fail "--temperature 1 should override the model's recommendation (seeds 1 and 2 gave the same tokens)"
"$cli" info "$work/greedy.safetensors" | grep -q '"sampling"' || fail "info does not show the recommendation"

# Completion of a 12-face cube by one face at most.
out=$("$cli" generate -m "$model" --text-embedding "$embed" --complete "$source/assets/meshes/cube.obj" \
    --max-faces 13 --seed 1 -d cpu -o "$work/cube.obj" --tokens-out "$work/cube.json") ||
    fail "--complete exited with $?"
echo "$out"
faces=$(json_number "$work/cube.json" faces)
[ "$faces" -ge 12 ] && [ "$faces" -le 13 ] || fail "--complete gave $faces faces, expected 12 or 13"
"$cli" tokenize "$source/assets/meshes/cube.obj" -m "$model" -o "$work/cube.tokens.json" -d cpu >/dev/null
diff <(grep -E '^ *[0-9]+,' "$work/cube.tokens.json" | head -12 | sed 's/,$//') \
    <(grep -E '^ *[0-9]+,' "$work/cube.json" | head -12 | sed 's/,$//') >/dev/null ||
    fail "--complete did not keep the cube's tokens"

# Score: a loss and the logits as .npy [19, 257].
out=$("$cli" score "$work/chair.json" -m "$model" --text-embedding "$embed" --logits-out "$work/logits.npy" -d cpu) ||
    fail "score exited with $?"
echo "$out"
[[ "$out" =~ "3 faces, 18 tokens + EOS: loss "[0-9]+\.[0-9]+ ]] || fail "score printed: $out"
[ -s "$work/logits.npy" ] || fail "no logits.npy"
head -c 128 "$work/logits.npy" | grep -qa "'shape': (19, 257)" || fail "logits.npy is not [19, 257]"
[ "$(stat -c %s "$work/logits.npy")" = $((128 + 19 * 257 * 4)) ] || fail "logits.npy has the wrong size"

# Bad input: non-zero exit, a message on stderr, nothing on stdout.
expect() {
    local text=$1
    shift
    if "$@" >"$work/stdout" 2>"$work/stderr"; then
        fail "exit 0 from: $*"
    fi
    grep -qF -- "$text" "$work/stderr" || { cat "$work/stderr" >&2; fail "stderr of '$*' does not say '$text'"; }
    if grep -qE "Sanitizer|runtime error:" "$work/stderr"; then
        cat "$work/stderr" >&2
        fail "a sanitizer reported on '$*'"
    fi
    [ ! -s "$work/stdout" ] || fail "'$*' printed on stdout: $(cat "$work/stdout")"
}
expect "conditioned on text" "$cli" generate -m "$model" -d cpu -o "$work/x.obj"
expect "needs a text encoder" "$cli" generate "a chair" -m "$model" -d cpu -o "$work/x.obj"
expect "position table" "$cli" generate -m "$model" --text-embedding "$embed" --max-faces 101 -d cpu -o "$work/x.obj"
expect "more than the limit of 2 faces" "$cli" generate -m "$model" --text-embedding "$embed" --max-faces 2 \
    --complete "$source/assets/meshes/cube.obj" -d cpu -o "$work/x.obj"
expect "--top-k takes a count or a fraction" "$cli" generate -m "$model" --text-embedding "$embed" --top-k 1.5 \
    -o "$work/x.obj"
expect "--temperature takes a number" "$cli" generate -m "$model" --text-embedding "$embed" --temperature hot \
    -o "$work/x.obj"
expect "--vertex-reuse takes a number in [1, " "$cli" generate -m "$model" --text-embedding "$embed" \
    --vertex-reuse 0.5 -o "$work/x.obj"
expect "unknown sampling setting \"heat\"" "$cli" convert "$model" -o "$work/x.safetensors" --sampling heat=1
expect "not a .npy file" "$cli" generate -m "$model" --text-embedding "$work/chair.json" -d cpu -o "$work/x.obj"
expect "cannot open" "$cli" generate -m "$model" --text-embedding "$work/missing.npy" -d cpu -o "$work/x.obj"
expect "32 wide but the model's dim_text is 768" "$cli" generate "a chair" -m "$model" \
    --text-encoder "$source/tests/fixtures/bert-tiny" -d cpu -o "$work/x.obj"
expect "UTF-8" "$cli" generate $'a \xff chair' -m "$model" --text-encoder "$source/tests/fixtures/bert-tiny" -d cpu \
    -o "$work/x.obj"
expect "give a model (-m) and an output file (-o)" "$cli" generate -m "$model"
expect "conditioned on text" "$cli" score "$work/chair.json" -m "$model" -d cpu
expect "give a token file and a model" "$cli" score
# Without -m the shipped default model is used; where there is none (here: pointed elsewhere), say so.
expect "no default model found" env MESHGPT_DEFAULT_MODEL="$work/none.safetensors" "$cli" score "$work/chair.json"
echo "cli generate/score: ok"
