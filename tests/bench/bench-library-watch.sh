#!/usr/bin/env bash
# How fast a photo copied into a watched folder reaches the search results: runs
# tests/bench/bench-library-watch.c (built as BUILD_DIR/tests/gui/bench-library-watch) with the
# application of BUILD_DIR under Xvfb, on images it draws in a temporary folder.  Options go to the
# program (--images N, --rounds N, --image-size PX, --model PATH, --tokenizer T).
# usage: tests/bench/bench-library-watch.sh [BUILD_DIR] [OPTIONS...]
exec bash "$(dirname "$0")/gui-bench.sh" bench-library-watch 1400x1000x24 "$@"
