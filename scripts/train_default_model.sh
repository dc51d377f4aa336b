#!/usr/bin/env bash
# Trains the shipped default model (assets/models/meshgpt-default.safetensors) from scratch on the CPU
# reference backend: the procedural primitives data set, the coordinate-code autoencoder (set by hand, exact),
# then a small text-conditioned transformer with a built-in (0-layer BERT) text encoder, then an f16 copy
# without the optimizer state.
#
#   scripts/train_default_model.sh [WORK_DIR]     (default /tmp/meshgpt-default-model)
#
# Resume-safe: run it again after an interruption (Ctrl-C saves a checkpoint) and every phase goes on from
# its last checkpoint (`--resume`; the result equals an unbroken run's); finished phases are not redone.
# Timings of the shipped run (on a 2-core VM) are in assets/models/MODEL_CARD.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MESHGPT="${MESHGPT:-$ROOT/build/meshgpt}"
WORK="${1:-/tmp/meshgpt-default-model}"
OUT="${OUT:-$ROOT/assets/models/meshgpt-default.safetensors}"
DEVICE="${DEVICE:-cpu}"

TF_STEPS=8000    # transformer: lr 1.5e-3, cosine decay to 5%, batches grouped by length

mkdir -p "$WORK"
cd "$WORK"

# Data: 500 shapes of each of the 19 classes; for evaluation 100 of each from another seed (the nearest-class
# test looks among all of them; coverage, MMD and 1-NNA use the first 10 of each, as many as the samples).
[ -f data/train/labels.json ] || "$MESHGPT" dataset primitives -o data/train --count 9500 --seed 1
[ -f data/heldout/labels.json ] || "$MESHGPT" dataset primitives -o data/heldout --count 1900 --seed 2

cat > config.json <<'EOF'
{
 "autoencoder_kwargs": {
  "num_discrete_coors": 128,
  "dim_codebook": 64,
  "codebook_size": 4096,
  "num_quantizers": 2,
  "encoder_dims_through_depth": [
   128,
   128
  ],
  "decoder_dims_through_depth": [
   128,
   128,
   128
  ],
  "dim_coor_embed": 32,
  "dim_area_embed": 8,
  "dim_normal_embed": 16,
  "dim_angle_embed": 8,
  "attn_encoder_depth": 0,
  "attn_decoder_depth": 0
 },
 "transformer_kwargs": {
  "dim": 128,
  "max_seq_len": 1344,
  "attn_depth": 3,
  "attn_heads": 4,
  "attn_dim_head": 32,
  "fine_attn_depth": 1,
  "coarse_pre_gateloop_depth": 1,
  "fine_pre_gateloop_depth": 0,
  "condition_on_text": true,
  "dim_text": 64,
  "text_condition_cond_drop_prob": 0.1
 }
}
EOF

resume_flag() { [ -f "$1" ] && echo --resume || true; }

# Autoencoder: the coordinate code, set by hand rather than trained (README, "Coordinate-code autoencoder"):
# every mesh tokenizes exactly, a vertex's first code being a cell of a 16^3 grid and its second the place in
# it. A learned one reaches 9.5% exact held-out faces in this budget (MODEL_CARD.md), and every wrong coordinate
# breaks a generated mesh's shared vertices. The config's encoder and decoder are as wide as the code needs.
[ -f autoencoder.safetensors ] || "$MESHGPT" train autoencoder --data data/train -o autoencoder.safetensors \
    --config config.json -d "$DEVICE" --init coordinate-code --steps 0

# Transformer on the autoencoder's codes; the captions (data/train/captions.json) train its text encoder. Its
# codebook rows start from the codes' bits (--init code-bits: with the coordinate code, bits of coordinates),
# which reaches in 200 steps the validation loss the random start needs about 1,000 for (README, "Training").
# Batches grouped by length: a step costs about half as much (less padding) for nearly the same progress per
# step (README, "Batches grouped by length"); the autoencoder keeps random batches, where grouping lost more
# than it saved.
"$MESHGPT" train transformer --data data/train --autoencoder autoencoder.safetensors -o transformer.safetensors \
    --config config.json -d "$DEVICE" --steps "$TF_STEPS" --batch 4 --lr 1.5e-3 --warmup 50 --lr-schedule cosine \
    --group-by-length --max-faces 223 --val-every 200 --save-every 50 --init code-bits \
    $(resume_flag transformer.safetensors)

# The shipped file: f16, model weights only (convert leaves a checkpoint's train.* state out; `meshgpt info` then
# lists no training state), recommending temperature 0.5, chosen for the seventh model (6000 steps) and kept:
# on a tuning set of another seed (`--count 190 --seed 4`) it followed the prompt as well as 0.7 and 0.3 did
# within noise, with fewer outliers than 0.7 and more variety than 0.3 (MODEL_CARD.md).
"$MESHGPT" convert transformer.safetensors -o "$OUT" --dtype f16 --sampling temperature=0.5
"$MESHGPT" info "$OUT"

# The model card's tables:
#   "$MESHGPT" eval tokenizer -m "$OUT" --data data/heldout --json eval_tokenizer.json
#   "$MESHGPT" eval generate -m "$OUT" --data data/heldout --samples 10 --json eval_generate.json
