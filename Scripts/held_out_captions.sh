#!/usr/bin/env bash
# Issue 10's composition test: does a caption-conditional G draw colour–item pairs it never
# saw? Writes the captioned Fashion-MNIST set (six pairs held out), trains a text-conditional
# G against the matching-aware D (GAN-CLS, with GAN-INT), then measures item and colour
# accuracy for the held-out captions and six seen ones with `kallima caption-accuracy`.
# The item classifier is the gray Fashion-MNIST one of Scripts/obedience.sh (same size).
#
#   Scripts/obedience.sh && Scripts/held_out_captions.sh
#   STEPS=5000 HEAD=two-head Scripts/held_out_captions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-3000}
SIZE=${SIZE:-16}
WIDTH=${WIDTH:-32}
HEAD=${HEAD:-matching}
COUNT=${COUNT:-20000}
OUT=${OUT:-runs/captions}
CLASSIFIER=${CLASSIFIER:-runs/obedience/classifier.safetensors}
KALLIMA=${KALLIMA:-.build/release/kallima}
[ -f "$CLASSIFIER" ] || { echo "no classifier at $CLASSIFIER: run Scripts/obedience.sh first (or set CLASSIFIER)" >&2; exit 1; }
mkdir -p "$OUT"
[ -d "$OUT/data" ] || "$KALLIMA" make-captioned --out "$OUT/data" --count "$COUNT" --size 32
rm -rf "${OUT:?}/$HEAD"
"$KALLIMA" train --data "$OUT/data" --condition text --d-head "$HEAD" --gan-int 1 --size "$SIZE" --width "$WIDTH" \
  --steps "$STEPS" --log-every 500 --sample-every "$STEPS" --checkpoint-every "$STEPS" --out "$OUT/$HEAD" --seed 0 \
  2>&1 | grep -E "^(step|recipe|data|warning)" || true
"$KALLIMA" sample --checkpoint "$OUT/$HEAD/checkpoints/latest.safetensors" --n 64 \
  --text "red sandal" --text "green trouser" --text "blue bag" --text "yellow dress" --text "magenta sneaker" \
  --text "cyan coat" --text "red boot" --text "blue trouser" --out "$OUT/$HEAD/captions.png"
"$KALLIMA" caption-accuracy --checkpoint "$OUT/$HEAD/checkpoints/latest.safetensors" --classifier "$CLASSIFIER" --n 200
