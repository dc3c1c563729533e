#!/bin/sh
# Streamed vs resident training throughput and the dataset cache's first/second-run load time
# (issue 9, items 11-12). Usage: Benchmarks/data/compare.sh [FOLDER] [LIMIT_MB]
# Makes FOLDER (3000 synthetic 160x128 PNG/JPEG images, ~37 MB as 64x64 RGB 8-bit) if absent,
# then runs `kallima bench data` with an empty cache (decode), again (cache hit), and with the
# dataset limited to LIMIT_MB of device memory (streamed) alternating rounds with the resident
# path in the same process (a busy machine's drift then falls on both alike).
set -eu
folder=${1:-/tmp/kallima-bench-images}
limit=${2:-16}
here=$(dirname "$0")
[ -d "$folder" ] || python3 "$here/make_images.py" "$folder" 3000
swift build -c release --product kallima >/dev/null
kallima=$(swift build -c release --show-bin-path)/kallima
cache=$(mktemp -d)
common="--data $folder --size 64 --batch 64 --steps 10 --width 16"
echo "== resident, empty cache (decodes the folder)"
KALLIMA_DATASET_CACHE=$cache $kallima bench data $common
echo "== resident, cache filled"
KALLIMA_DATASET_CACHE=$cache $kallima bench data $common
echo "== streamed (--data-memory $limit) against resident, alternating rounds in one process"
KALLIMA_DATASET_CACHE=$cache $kallima bench data $common --data-memory "$limit" --versus-resident --rounds 5
rm -rf "$cache"
