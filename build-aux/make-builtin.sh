#!/usr/bin/env bash
# make-builtin.sh — reproduces data/builtin/model.safetensors and the sample folder data/samples
# (with data/train.csv) from our own data: the procedural shapes data set and Fashion-MNIST
# (Debian's dataset-fashion-mnist).  Takes about 20 minutes on 2 cores (the training 14 of them).
#   usage: bash build-aux/make-builtin.sh [BUILD_DIR] [WORK_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
work=${2:-$(mktemp -d)}
cli=$build/src/cli/cliplab-cli
mkdir -p "$work"
cd "$work"

"$cli" dataset shapes --out shapes --count 4000 --seed 7 --image-size 64
"$cli" dataset fashion-mnist --from /usr/share/datasets/fashion-mnist --out fmnist \
  --limit-train 20000 --limit-test 2000

# One training and one test CSV over both sets, paths relative to WORK_DIR.
for split in train test; do
  { echo "image_path,caption,label"
    tail -n +2 "shapes/$split.csv" | sed 's#^#shapes/#'
    tail -n +2 "fmnist/$split.csv" | sed 's#^#fmnist/#'
  } > "$split.csv"
done

"$cli" train --csv train.csv --img-root . --val-csv test.csv --out builtin \
  --image-size 32 --patch-size 8 --vision-width 96 --vision-layers 3 \
  --text-width 64 --text-layers 2 --text-heads 1 --context-length 64 --embed-dim 64 \
  --batch-size 256 --lr 2e-3 --warmup 45 --max-steps 900 --seed 1 --save-every 100 \
  --threads 2 --log-json builtin.log.json

mkdir -p "$root/data/builtin"
"$cli" convert --model builtin/model.safetensors --out "$root/data/builtin/model.safetensors" --dtype f16
"$cli" evaluate --model "$root/data/builtin/model.safetensors" --csv test.csv --img-root . --json \
  > "$root/data/builtin/evaluation.json"

# The sample folder: the first 12 shapes and 20 Fashion-MNIST items of the test splits, with a
# train.csv in the original project's format (image_path,caption).
rm -rf "$root/data/samples"
mkdir -p "$root/data/samples"
{ echo "image_path,caption"
  for set in shapes fmnist; do
    count=$([[ $set == shapes ]] && echo 12 || echo 20)
    # sed, not tail | head: head closing the pipe early would fail the pipeline (pipefail).
    sed -n "2,$((count + 1))p" "$set/test.csv" | while IFS=, read -r path caption _label; do
      name="$set-$(basename "$path")"
      cp "$set/$path" "$root/data/samples/$name"
      echo "samples/$name,$caption"
    done
  done
} > "$root/data/train.csv"
echo "make-builtin.sh: wrote data/builtin/model.safetensors, data/samples/ and data/train.csv"
