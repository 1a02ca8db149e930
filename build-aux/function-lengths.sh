#!/usr/bin/env bash
# function-lengths.sh [LIMIT] [DIR…] — lists the C functions under DIR (default src/) longer than
# LIMIT lines (default 120), longest first, as "LINES FILE:LINE NAME"; exits 1 when there is one.
# Functions are written in the GNU/GNOME style the tree uses: the name at column 0, the body between a
# '{' and a '}' alone at column 0.
set -euo pipefail
limit=${1:-120}
shift || true
[[ $# -gt 0 ]] || set -- "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/src"
long=$(find "$@" -name '*.c' -print0 | sort -z | xargs -0 awk -v limit="$limit" '
  FNR == 1 { name = ""; start = 0 }
  /^[A-Za-z_][A-Za-z0-9_]* *\(/ { name = $0; sub(/ *\(.*/, "", name); name_line = FNR }
  /^\{/ { start = FNR }
  /^\}/ && start > 0 {
    n = FNR - start + 1
    if (n > limit) printf "%d %s:%d %s\n", n, FILENAME, name_line, name
    start = 0
  }' | sort -rn)
if [[ -n $long ]]; then
  printf '%s\n' "$long"
  exit 1
fi
