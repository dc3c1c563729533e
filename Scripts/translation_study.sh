#!/bin/bash
# The image-to-image runs behind the README's tables and grids, on sets the project makes from
# Fashion-MNIST (Scripts/setup.sh installs it), at 32x32:
#   pix2pix edges -> garment: GAN + L1 against L1 only and GAN only (same G, data, seed, steps);
#   CycleGAN gray <-> tinted garments (the test pairs give a ground truth);
#   StarGAN red / inverted / thick (every target has a rendered ground truth).
# Then translates the held-out images with each checkpoint and composes docs/images/*.png.
# About 1.5 hours on a 2-core CPU with PoCL. Usage: Scripts/translation_study.sh [kallima binary]
set -euo pipefail
cd "$(dirname "$0")/.."
K=${1:-.build/release/kallima}
R=runs/translation-study
mkdir -p "$R"
[ -d "$R/edges" ] || $K make-translation-data --kind edges --out "$R/edges" --train 2000 --test 100 --seed 1
[ -d "$R/colour" ] || $K make-translation-data --kind colour --out "$R/colour" --train 2000 --test 100 --seed 2
[ -d "$R/attributes" ] || $K make-translation-data --kind attributes --out "$R/attributes" --train 2000 --test 100 --seed 3

common="--size 32 --log-every 200 --eval-every 1000 --eval-images 100"
for variant in gan_l1 l1_only gan_only; do
  case $variant in gan_l1) extra="" ;; l1_only) extra="--no-gan" ;; gan_only) extra="--lambda-l1 0" ;; esac
  $K train pix2pix --data "$R/edges" --ngf 32 --ndf 32 --steps 4000 --sample-every 1000 --checkpoint-every 4000 \
    $common $extra --out "$R/pix2pix_$variant"
  for mode in train eval; do
    flag=$([ $mode = eval ] && echo --eval || true)
    $K translate --checkpoint "$R/pix2pix_$variant" --input "$R/edges/test" --out "$R/translated/pix2pix_${variant}_$mode" $flag
  done
done
$K train cyclegan --data "$R/colour" --ngf 16 --ndf 16 --steps 2000 --sample-every 500 --checkpoint-every 2000 \
  --classifier-steps 300 $common --out "$R/cyclegan_colour"
$K train stargan --data "$R/attributes" --ngf 16 --ndf 16 --steps 2000 --sample-every 500 --checkpoint-every 2000 \
  --classifier-steps 300 $common --out "$R/stargan_attributes"

names=$(ls "$R/edges/test/"*.png | head -8 | xargs -n1 basename | paste -sd,)
python3 Scripts/compose_columns.py --scale 3 docs/images/pix2pix-edges.png "$names" "$R/edges/test:left" \
  "$R/translated/pix2pix_l1_only_train" "$R/translated/pix2pix_gan_only_train" "$R/translated/pix2pix_gan_l1_train" \
  "$R/edges/test:right"
$K translate --checkpoint "$R/cyclegan_colour" --input "$R/colour/testA" --out "$R/translated/cyclegan_AtoB" --direction AtoB
$K translate --checkpoint "$R/cyclegan_colour" --input "$R/colour/testB" --out "$R/translated/cyclegan_BtoA" --direction BtoA
names=$(ls "$R/colour/testA/"*.png | head -8 | xargs -n1 basename | paste -sd,)
python3 Scripts/compose_columns.py --scale 3 docs/images/cyclegan-colour.png "$names" "$R/colour/testA" \
  "$R/translated/cyclegan_AtoB" "$R/colour/testB" "$R/translated/cyclegan_BtoA"
# StarGAN's grid of the run (input | red flipped | inverted flipped | thick flipped), enlarged.
python3 - "$R/stargan_attributes/samples/step_002000.png" docs/images/stargan-attributes.png <<'PY'
import sys
sys.path.insert(0, "Scripts")
from compose_columns import read_png, write_png
image = read_png(sys.argv[1])
write_png(sys.argv[2], [[p for p in r for _ in range(3)] for r in image for _ in range(3)])
PY
