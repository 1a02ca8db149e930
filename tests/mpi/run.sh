#!/usr/bin/env bash
# run.sh NP PROGRAM [ARGS…] — runs a test program on NP ranks of one machine (mpirun
# --oversubscribe), or prints a TAP skip naming why when mpirun is not installed.
set -euo pipefail
np=$1
shift
if ! command -v mpirun >/dev/null 2>&1; then
  echo "1..0 # SKIP mpirun is not installed (Debian package openmpi-bin, in build-aux/setup.sh)"
  exit 0
fi
exec mpirun --oversubscribe -np "$np" "$@"
