#!/usr/bin/env bash
# meshgpt train autoencoder and train transformer end to end, on one device: a small data set of primitives,
# a tiny config, a few steps; the checkpoints load as models, resume continues, the transformer (with the
# built-in text encoder made from the captions) generates from a prompt, and bad input is refused clearly.
#   tests/cli/train.sh MESHGPT_BINARY WORK_DIR DEVICE
set -euo pipefail
cli=$1 work=$2 device=$3
[ "$device" = vulkan ] && device=0
rm -rf "$work"
mkdir -p "$work"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

"$cli" dataset primitives -o "$work/data" --count 19 --seed 2 >/dev/null
cat >"$work/config.json" <<'JSON'
{"autoencoder_kwargs": {"num_discrete_coors": 64, "dim_codebook": 16, "codebook_size": 256, "num_quantizers": 2,
 "encoder_dims_through_depth": [16, 32], "decoder_dims_through_depth": [16, 32], "dim_coor_embed": 8,
 "dim_area_embed": 4, "dim_normal_embed": 4, "dim_angle_embed": 4, "attn_encoder_depth": 0, "attn_decoder_depth": 0},
 "transformer_kwargs": {"dim": 32, "max_seq_len": 1500, "attn_depth": 1, "attn_heads": 2, "attn_dim_head": 16,
 "fine_attn_depth": 1, "coarse_pre_gateloop_depth": 1, "fine_pre_gateloop_depth": 0, "condition_on_text": true,
 "dim_text": 16}}
JSON
common=(--config "$work/config.json" --batch 2 --warmup 1 --val-every 2 --val-fraction 0.1 -d "$device")

out=$("$cli" train autoencoder --data "$work/data" -o "$work/ae.safetensors" --steps 2 "${common[@]}" 2>&1) ||
    fail "train autoencoder exited with $?: $out"
[[ "$out" == *"validation loss"* ]] || fail "no validation loss in: $out"
[ -s "$work/ae.loss.svg" ] || fail "no loss curve beside the autoencoder"
# Resume: two more steps continue from step 2.
out=$("$cli" train autoencoder --data "$work/data" -o "$work/ae.safetensors" --steps 4 --resume "${common[@]}" 2>&1) ||
    fail "resume exited with $?: $out"
[[ "$out" == *"(step 4)"* ]] || fail "resume did not reach step 4: $out"
"$cli" info "$work/ae.safetensors" | grep -q "check: OK" || fail "the autoencoder checkpoint does not load as a model"

# The automatic choice trains on the CPU backend, saying so, when the device it would pick is a Vulkan driver
# running on the CPU (lavapipe); on a GPU it stays.
if [ "$device" = 0 ]; then
    out=$(MESHGPT_DEVICE= "$cli" train autoencoder --data "$work/data" -o "$work/auto.safetensors" --steps 1 \
        --config "$work/config.json" --batch 2 --warmup 1 --val-every 0 -d auto 2>&1) || fail "-d auto exited: $out"
    if "$cli" devices | grep -E '^[0-9]+\*' | grep -q "Vulkan on CPU"; then
        [[ "$out" == *"training on the CPU backend rather than on"* ]] || fail "-d auto on a CPU Vulkan driver: $out"
    else
        [[ "$out" != *"training on the CPU backend"* ]] || fail "-d auto left a GPU: $out"
    fi
fi

out=$("$cli" train transformer --data "$work/data" --autoencoder "$work/ae.safetensors" -o "$work/tf.safetensors" \
    --steps 2 "${common[@]}" 2>&1) || fail "train transformer exited with $?: $out"
info=$("$cli" info "$work/tf.safetensors")
[[ "$info" == *"built-in BERT: 0 layers, width 16"* ]] || fail "no built-in text encoder: $info"
out=$("$cli" generate "a tall cylinder" -m "$work/tf.safetensors" -o "$work/gen.obj" --max-faces 4 --seed 1 \
    --preview -d "$device") || fail "generate from the trained model exited with $?"
[[ "$out" == *"preview in"* ]] || fail "generate printed: $out"

# A transformer whose positions hold fewer faces than some meshes have: those are skipped and counted, not fatal.
sed 's/"max_seq_len": 1500/"max_seq_len": 181/' "$work/config.json" >"$work/short.json"
out=$("$cli" train transformer --data "$work/data" --autoencoder "$work/ae.safetensors" -o "$work/short.safetensors" \
    --steps 1 --config "$work/short.json" --batch 2 --warmup 1 --val-every 0 --val-fraction 0.1 -d "$device" 2>&1) ||
    fail "a short transformer exited with $?: $out"
[[ "$out" == *"skipped"* ]] || fail "meshes too long for the transformer were not reported: $out"

# Bad input: an empty folder, a transformer without its autoencoder.
mkdir -p "$work/empty"
if out=$("$cli" train autoencoder --data "$work/empty" -o "$work/x.safetensors" "${common[@]}" 2>&1); then
    fail "an empty folder was accepted"
fi
[[ "$out" == *"no mesh files"* || "$out" == *"empty"* ]] || fail "empty folder message: $out"
if out=$("$cli" train transformer --data "$work/data" -o "$work/y.safetensors" "${common[@]}" 2>&1); then
    fail "a new transformer without an autoencoder was accepted"
fi
[[ "$out" == *"autoencoder"* ]] || fail "missing autoencoder message: $out"

# The embedding start: sinusoid trains, an unknown name lists the choices, a transformer refuses it.
out=$("$cli" train autoencoder --data "$work/data" -o "$work/sin.safetensors" --steps 1 --embedding-init sinusoid \
    "${common[@]}" 2>&1) || fail "--embedding-init sinusoid exited with $?: $out"
if out=$("$cli" train autoencoder --data "$work/data" -o "$work/x.safetensors" --embedding-init smooth \
    "${common[@]}" 2>&1); then
    fail "--embedding-init smooth was accepted"
fi
[[ "$out" == *'bad value "smooth" for --embedding-init (normal or sinusoid)'* ]] || fail "bad init message: $out"
if out=$("$cli" train transformer --data "$work/data" --autoencoder "$work/ae.safetensors" -o "$work/y.safetensors" \
    --embedding-init sinusoid "${common[@]}" 2>&1); then
    fail "a transformer took --embedding-init sinusoid"
fi
[[ "$out" == *"an autoencoder setting"* ]] || fail "transformer --embedding-init message: $out"

# The coordinate-code start: --steps 0 writes it untrained, and the eval finds every held-out face exact (64 bins:
# 6 bits; 8-bit codes give 2 per axis at 2 levels, too few, so this config has 12-bit codes and wider layers).
sed -e 's/"codebook_size": 256/"codebook_size": 4096/' -e 's/"dim_codebook": 16/"dim_codebook": 56/' \
    -e 's/"encoder_dims_through_depth": \[16, 32\]/"encoder_dims_through_depth": [112, 56]/' \
    -e 's/"decoder_dims_through_depth": \[16, 32\]/"decoder_dims_through_depth": [112, 112]/' \
    "$work/config.json" >"$work/code.json"
out=$("$cli" train autoencoder --data "$work/data" -o "$work/code.safetensors" --init coordinate-code --steps 0 \
    --config "$work/code.json" -d "$device" 2>&1) || fail "--init coordinate-code --steps 0 exited with $?: $out"
[[ "$out" == *"(step 0)"* ]] || fail "--steps 0 did not write the start: $out"
"$cli" dataset primitives -o "$work/other" --count 19 --seed 9 >/dev/null
out=$("$cli" eval tokenizer -m "$work/code.safetensors" --data "$work/other" -d "$device") ||
    fail "eval tokenizer of the coordinate code exited with $?"
grep -Eq '^all +19 +[0-9]+ +100\.00%' <<<"$out" || fail "the coordinate code is not exact: $out"
if out=$("$cli" train autoencoder --data "$work/data" -o "$work/x.safetensors" --init coordinate-code --steps 0 \
    "${common[@]}" 2>&1); then
    fail "the coordinate code took a config too narrow for it"
fi
[[ "$out" == *"the bits of a coordinate of 64 bins"* ]] || fail "narrow coordinate-code config message: $out"
if out=$("$cli" train autoencoder --data "$work/data" -o "$work/x.safetensors" --init exact "${common[@]}" 2>&1); then
    fail "--init exact was accepted"
fi
[[ "$out" == *'bad value "exact" for --init (random, coordinate-code or code-bits)'* ]] || fail "bad --init message: $out"
if out=$("$cli" train transformer --data "$work/data" --autoencoder "$work/ae.safetensors" -o "$work/y.safetensors" \
    --init coordinate-code "${common[@]}" 2>&1); then
    fail "a transformer took --init coordinate-code"
fi
[[ "$out" == *"a transformer starts random or from the code bits"* ]] || fail "transformer --init message: $out"
# The code-bits start of a transformer: written at step 0, recorded in the settings; refused for an autoencoder.
out=$("$cli" train transformer --data "$work/data" --autoencoder "$work/ae.safetensors" -o "$work/bits.safetensors" \
    --init code-bits --steps 0 "${common[@]}" 2>&1) || fail "transformer --init code-bits exited with $?: $out"
[[ "$out" == *"(step 0)"* ]] || fail "--init code-bits --steps 0 did not write the start: $out"
grep -aq 'transformer_start\\":\\"code-bits' "$work/bits.safetensors" ||
    fail "the checkpoint's training settings do not record the code-bits start"
if out=$("$cli" train autoencoder --data "$work/data" -o "$work/x.safetensors" --init code-bits "${common[@]}" 2>&1); then
    fail "an autoencoder took --init code-bits"
fi
[[ "$out" == *"the code-bits start is a transformer's"* ]] || fail "autoencoder --init code-bits message: $out"
echo "cli train ($device): ok"
