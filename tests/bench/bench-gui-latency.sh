#!/usr/bin/env bash
# The GUI's responsiveness: runs tests/bench/bench-gui-latency.c (built as
# BUILD_DIR/tests/gui/bench-gui-latency) with the application of BUILD_DIR under Xvfb, on images it
# draws in a temporary folder.  Options go to the program (--images N, --folder-images N,
# --train-steps N, --model PATH, --tokenizer T; --map-pan [--pan-frames N] for the Map view's frame
# times while panning).
# usage: tests/bench/bench-gui-latency.sh [BUILD_DIR] [OPTIONS...]
exec bash "$(dirname "$0")/gui-bench.sh" bench-gui-latency 1400x1000x24 "$@"
