#!/usr/bin/env bash
# The GUI's memory over passes through a large folder: runs tests/bench/bench-gui-memory.c (built as
# BUILD_DIR/tests/gui/bench-gui-memory) with the application of BUILD_DIR under Xvfb, on a folder it
# draws in a temporary folder.  Options go to the program (--images N, --photos N, --passes N,
# --renderer gl|cairo).
# usage: tests/bench/bench-gui-memory.sh [BUILD_DIR] [OPTIONS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
[ $# -gt 0 ] && shift
for tool in xvfb-run dbus-run-session; do
  command -v "$tool" >/dev/null || { echo "bench-gui-memory.sh: $tool is missing (Debian: xvfb, dbus)" >&2; exit 1; }
done
screenshots=$(mktemp -d)
trap 'rm -rf "$screenshots"' EXIT
export CLIPLAB_GUI_DRIVER="$build/tests/gui/cliplab-gui-driver"
export CLIPLAB_SCREENSHOT_DIR="$screenshots"
export GSETTINGS_SCHEMA_DIR="$build/data"
exec xvfb-run -a -s '-screen 0 1600x1000x24 -nolisten tcp' dbus-run-session -- \
  "$build/tests/gui/bench-gui-memory" "$@"
