#!/usr/bin/env bash
# Training speed: ClipTrainer (tests/bench/bench-train) against its PyTorch eager twin
# (tests/bench/bench_train_torch.py) on the same architecture, batch, thread count and machine, one
# after the other; prints both JSON lines and the ratio of steps per second.  Options go to both
# (defaults: the Fashion-MNIST configuration of README.md, batch 256, 2 threads).
# usage: tests/bench/bench-train.sh [BUILD_DIR] [--batch-size N --vision-width N ...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
[ $# -gt 0 ] && shift
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "bench-train.sh: PyTorch is missing (Debian: apt-get install python3-torch python3-numpy)" >&2
  exit 1
fi
ours=$("$build/tests/bench/bench-train" "$@")
theirs=$(/usr/bin/python3 "$here/bench_train_torch.py" "$@")
echo "$ours"
echo "$theirs"
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = (json.loads(s) for s in sys.argv[1:3])
# the wall-clock ratio is the figure; the CPU-time ratio is steadier when other jobs share the machine
print(json.dumps({"speedup_vs_pytorch_eager": round(ours["steps_per_s"] / theirs["steps_per_s"], 3),
                  "cpu_time_ratio": round(theirs["cpu_s_per_step"] / ours["cpu_s_per_step"], 3),
                  "params_equal": ours["params"] == theirs["params"]}))
PY
