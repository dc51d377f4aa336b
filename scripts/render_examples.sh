#!/usr/bin/env bash
# Renders the model card's example strip: one mesh per prompt from a model, laid side by side (3 units
# apart along x) in one OBJ, then `meshgpt render --views 1` of that row.
#
#   scripts/render_examples.sh MODEL OUT.png [SEED] ["PROMPT" ...]
#
# Defaults: seed 0, prompts "a cube", "a tube", "a table", "a box"; DEVICE=cpu (say) picks the device. Needs
# only the meshgpt tool and awk.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MESHGPT="${MESHGPT:-$ROOT/build/meshgpt}"
if [ $# -lt 2 ]; then
    echo "usage: $0 MODEL OUT.png [SEED] [\"PROMPT\" ...]" >&2
    exit 2
fi
MODEL="$1"
OUT="$2"
SEED="${3:-0}"
shift $(($# < 3 ? $# : 3))
PROMPTS=("$@")
[ ${#PROMPTS[@]} -gt 0 ] || PROMPTS=("a cube" "a tube" "a table" "a box")

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

meshes=()
for i in "${!PROMPTS[@]}"; do
    "$MESHGPT" generate "${PROMPTS[$i]}" -m "$MODEL" --seed "$SEED" ${DEVICE:+-d "$DEVICE"} -o "$WORK/$i.obj" >/dev/null
    meshes+=("$WORK/$i.obj")
done

# One OBJ: mesh i shifted by 3 i along x, its face indices shifted by the vertices before it.
awk '
    FNR == 1 { if (NR > 1) { base += count; shift += 3 } count = 0 }
    $1 == "v" { printf "v %.6f %s %s\n", $2 + shift, $3, $4; count++; next }
    $1 == "f" {
        printf "f"
        for (k = 2; k <= NF; k++) { split($k, parts, "/"); printf " %d", parts[1] + base }
        printf "\n"
    }
' "${meshes[@]}" >"$WORK/row.obj"

"$MESHGPT" render "$WORK/row.obj" -o "$OUT" --views 1 --size 768
echo "wrote $OUT (${PROMPTS[*]}, seed $SEED)"
