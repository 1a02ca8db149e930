#!/usr/bin/env bash
# gui-bench.sh PROGRAM SCREEN [BUILD_DIR] [OPTIONS...] — runs the GUI benchmark BUILD_DIR/tests/gui/PROGRAM
# (its options after BUILD_DIR) with the application of BUILD_DIR under Xvfb on a SCREEN (WxHxDEPTH)
# display, its screenshots in a temporary folder.  The bench-gui-*.sh and bench-library-watch.sh
# scripts call it.
set -euo pipefail
program=${1:?usage: gui-bench.sh PROGRAM SCREEN [BUILD_DIR] [OPTIONS...]}
screen=${2:?usage: gui-bench.sh PROGRAM SCREEN [BUILD_DIR] [OPTIONS...]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
[ $# -gt 0 ] && shift
for tool in xvfb-run dbus-run-session; do
  command -v "$tool" >/dev/null || { echo "$program: $tool is missing (Debian: xvfb, dbus)" >&2; exit 1; }
done
screenshots=$(mktemp -d)
trap 'rm -rf "$screenshots"' EXIT
export CLIPLAB_GUI_DRIVER="$build/tests/gui/cliplab-gui-driver"
export CLIPLAB_SCREENSHOT_DIR="$screenshots"
export GSETTINGS_SCHEMA_DIR="$build/data"
xvfb-run -a -s "-screen 0 $screen -nolisten tcp" dbus-run-session -- "$build/tests/gui/$program" "$@"
