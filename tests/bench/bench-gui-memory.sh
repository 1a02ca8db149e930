#!/usr/bin/env bash
# The GUI's memory over passes through a large folder: runs tests/bench/bench-gui-memory.c (built as
# BUILD_DIR/tests/gui/bench-gui-memory) with the application of BUILD_DIR under Xvfb, on a folder it
# draws in a temporary folder.  Options go to the program (--images N, --photos N, --passes N,
# --renderer gl|cairo).
# usage: tests/bench/bench-gui-memory.sh [BUILD_DIR] [OPTIONS...]
exec bash "$(dirname "$0")/gui-bench.sh" bench-gui-memory 1600x1000x24 "$@"
