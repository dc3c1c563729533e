#!/usr/bin/env bash
# The obedience table of issue 10: how often a class-conditional G trained on Fashion-MNIST
# draws the class it is asked for, per D head (SPEC §3). Each head trains the same
# conditional DCGAN G (z ⊕ embed(c)) with the same seed; the run's last evaluation
# generates --eval-samples images split evenly over the 10 classes (the same z for every
# class) and a classifier trained once on the real data (shared by all runs) says which
# class each image shows. `none` is the baseline: a D that sees x alone.
#
#   Scripts/obedience.sh                       # all heads, 2000 steps, 16x16, width 32
#   STEPS=5000 HEADS="matching projection" Scripts/obedience.sh
#
# Needs the release binary (swift build -c release --product kallima). Prints a table;
# the runs stay in $OUT (samples/, metrics.jsonl, checkpoints/).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-2000}
SIZE=${SIZE:-16}
WIDTH=${WIDTH:-32}
OUT=${OUT:-runs/obedience}
KALLIMA=${KALLIMA:-.build/release/kallima}
HEADS=${HEADS:-"none concat matching two-head projection acgan"}
EXTRA=${EXTRA:-}
mkdir -p "$OUT"
for head in $HEADS; do
  options=()
  # The projection D's recipe (Miyato & Koyama 2018): hinge, spectral norm, Adam (0, 0.9);
  # one D step per G step here, as for the other heads.
  [ "$head" = projection ] && options=(--loss hinge --spectral-norm --beta1 0 --beta2 0.9)
  rm -rf "${OUT:?}/$head"
  mkdir -p "$OUT/$head"
  [ -f "$OUT/classifier.safetensors" ] && cp "$OUT/classifier.safetensors" "$OUT/$head/"
  echo "== $head"
  # shellcheck disable=SC2086
  "$KALLIMA" train --condition class --d-head "$head" --size "$SIZE" --width "$WIDTH" --steps "$STEPS" \
    --log-every 500 --sample-every "$STEPS" --checkpoint-every "$STEPS" --eval-every "$STEPS" --eval-samples 2000 \
    --out "$OUT/$head" --seed 0 "${options[@]}" $EXTRA 2>&1 | grep -E "^(step|eval|recipe|warning)" || true
  [ -f "$OUT/classifier.safetensors" ] || cp "$OUT/$head/classifier.safetensors" "$OUT/"
done
echo
echo "| D head | conditional accuracy | per class | intra-class Fréchet (classifier features) | modes | KL (nats) |"
echo "|---|---|---|---|---|---|"
for head in $HEADS; do
  line=$(grep '"conditional_accuracy"' "$OUT/$head/metrics.jsonl" | tail -1)
  field() { echo "$line" | grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2; }
  per=$(echo "$line" | grep -o '"per_class":\[[^]]*\]' | cut -d: -f2)
  printf '| %s | %.3f | %s | %.2f | %s | %.3f |\n' "$head" "$(field conditional_accuracy)" "$per" "$(field intra_fid)" \
    "$(field modes)" "$(field kl)"
done
