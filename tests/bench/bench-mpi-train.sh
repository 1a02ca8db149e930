#!/usr/bin/env bash
# Data-parallel training speed: `cliplab-cli train` on 1 process and over MPI, ranks × threads as
# given, 40 steps of the README's Fashion-MNIST configuration (batch 256) on the first 5,120 training
# images; prints one line per run: the median step time over steps 6-40 (256 / images_per_s of the
# log), the CPU seconds per step of all ranks (start-up and decoding included) and, over MPI, the
# bytes each rank sent per step and its time in collectives.
# usage: tests/bench/bench-mpi-train.sh [BUILD_DIR] [RANKS×THREADS …]    (default: 1x2 1x1 2x1 4x1)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
[ $# -gt 0 ] && shift
if [[ $# -gt 0 ]]; then layouts=("$@"); else layouts=(1x2 1x1 2x1 4x1); fi
cli=$build/src/cli/cliplab-cli
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
"$cli" dataset fashion-mnist --out "$work/fm" --limit-train 5120 --limit-test 10 >/dev/null
for layout in "${layouts[@]}"; do
  np=${layout%x*}
  threads=${layout#*x}
  args=(train --csv "$work/fm/train.csv" --img-root "$work/fm" --out "$work/run-$layout"
        --log-json "$work/run-$layout.jsonl" --max-steps 40 --save-every 0 --batch-size 256 --lr 2e-3 --warmup 4
        --image-size 28 --patch-size 7 --vision-width 64 --vision-layers 3 --vision-heads 2 --text-width 64
        --text-layers 1 --text-heads 2 --context-length 48 --embed-dim 64 --threads "$threads")
  rm -rf "$work/run-$layout" "$work/run-$layout.jsonl"
  if [[ $np -eq 1 ]]; then
    command=("$cli" "${args[@]}")
  else
    command=(mpirun --oversubscribe --bind-to none -np "$np" "$cli" "${args[@]}")
  fi
  load=$(cut -d' ' -f1 /proc/loadavg)
  output=$( { TIMEFORMAT='%U %S'; time "${command[@]}" 2>&1; } 2>&1 )
  cpu=$(tail -n 1 <<<"$output" | awk '{ printf "%.3f", ($1 + $2) / 40 }')
  step=$(jq -s '[.[] | select(.step > 5) | 256 / .images_per_s] | sort | .[length / 2 | floor]' "$work/run-$layout.jsonl")
  printf '%s ranks x threads: step %.3f s (%.2f steps/s), %s CPU s per step, load %s %s\n' "$layout" "$step" \
    "$(awk -v s="$step" 'BEGIN { print 1 / s }')" "$cpu" "$load" "$(grep 'over MPI' <<<"$output" || true)"
done
