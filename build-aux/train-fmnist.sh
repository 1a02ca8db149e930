#!/usr/bin/env bash
# train-fmnist.sh — the Fashion-MNIST time-to-accuracy recipe (README, "Training"): makes the data
# set when it is missing, trains a small CLIP model from scratch on 2 threads, measures zero-shot
# top-1 on the 10,000 test images and prints one JSON line last:
#   {"top1": …, "train_seconds": …, "train_cpu_seconds": …, "model": "OUT_DIR/model.safetensors",
#    "template": "a photo of a {}"}
# train_seconds is the wall time of `cliplab-cli train` (decoding the PNGs included).
#   usage: bash build-aux/train-fmnist.sh OUT_DIR [EXTRA TRAIN FLAGS…]
#   CLIPLAB_CLI: the cliplab-cli to run (default: BUILD/src/cli/cliplab-cli beside this script,
#                else cliplab-cli on PATH)
#   FMNIST_DATA: the data set folder (default: OUT_DIR/data; made with `cliplab-cli dataset
#                fashion-mnist` from Debian's dataset-fashion-mnist when its train.csv is missing)
# Extra flags go to `cliplab-cli train` after the recipe's and override them (a quick try:
# --max-steps 20 --warmup 5).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [EXTRA TRAIN FLAGS…]" >&2
  exit 2
fi
out=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
cli=${CLIPLAB_CLI:-$root/build/src/cli/cliplab-cli}
[ -x "$cli" ] || cli=$(command -v cliplab-cli) || { echo "$0: no cliplab-cli (set CLIPLAB_CLI)" >&2; exit 1; }
data=${FMNIST_DATA:-$out/data}
template="a photo of a {}"

mkdir -p "$out"
[ -f "$data/train.csv" ] || "$cli" dataset fashion-mnist --out "$data"

# One caption per class, the evaluation template's: the generator's ten caption templates make
# the text tower learn to ignore the template, which this small budget cannot spare.  The
# generator's labels hold no commas or quotes, so the third column is the bare class name.
captions=$out/train-captions.csv
awk -F, -v template="$template" 'NR == 1 { print; next }
  { caption = template; sub(/\{\}/, $3, caption); print $1 "," caption "," $3 }' \
  "$data/train.csv" > "$captions"

# ViT 28 px, patch 7 (16 tokens), width 96 × 4 layers; text width 64 × 1 layer over 26 byte
# tokens (the longest caption and its two markers); 14 epochs of 234 steps with random resized
# crops and left-right mirrors (every class looks the same mirrored); no validation during the run.
timing=$out/train-time.txt
TIMEFORMAT='%R %U %S'
{ time "$cli" train --csv "$captions" --img-root "$data" --out "$out" --log-json "$out/train.jsonl" \
    --image-size 28 --patch-size 7 --vision-width 96 --vision-layers 4 --vision-heads 3 \
    --text-width 64 --text-layers 1 --text-heads 2 --context-length 26 --embed-dim 64 \
    --epochs 14 --batch-size 256 --lr 2e-3 --warmup 200 --augment --augment-flip \
    --seed 0 --save-every 0 --threads 2 "$@" 2>&3; } 3>&2 2> "$timing"
read -r wall user sys < "$timing"

model=$out/model.safetensors
metrics=$("$cli" evaluate --model "$model" --csv "$data/test.csv" --img-root "$data" \
  --template "$template" --threads 2 --json)
top1=$(printf '%s\n' "$metrics" | grep -o '"zero_shot":{"top1":[0-9.eE+-]*' | sed 's/.*://')
[ -n "$top1" ] || { echo "$0: no zero-shot top-1 in the evaluation: $metrics" >&2; exit 1; }
cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
printf '{"top1": %s, "train_seconds": %s, "train_cpu_seconds": %s, "model": "%s", "template": "%s"}\n' \
  "$top1" "$wall" "$cpu" "$model" "$template"
