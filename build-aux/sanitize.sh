#!/usr/bin/env bash
# sanitize.sh [MESON TEST ARGS…] — builds ClipLab with AddressSanitizer and UndefinedBehaviorSanitizer
# in build-asan/ and runs the whole test suite there (the GUI tests under Xvfb, as in the normal
# build), so that any memory error, leak or undefined behaviour fails the test that caused it.
#
#   bash build-aux/sanitize.sh                  everything
#   bash build-aux/sanitize.sh safetensors cli  just these tests or suites
#
# CLIPLAB_ASAN_BUILD_DIR overrides the folder; CC picks the compiler (gcc by default; clang works too).
# The sanitizers make the tests about three times slower, so the timeouts are multiplied by 4.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${CLIPLAB_ASAN_BUILD_DIR:-build-asan}
cd "$root"

bash build-aux/setup.sh deps
if [[ ! -f $build/build.ninja ]]; then
  # b_lundef must be off for the sanitizers' runtime with clang (meson's documentation).
  meson setup "$build" --buildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args=-fno-omit-frame-pointer
fi
ninja -C "$build"

# Stop at the first report, make UBSan's reports fatal and show where; leaks are reported at exit.
# Third-party caches that LeakSanitizer would call leaks are suppressed by name (build-aux/lsan.supp);
# full stacks (fast_unwind_on_malloc=0) so that the suppressions match them and reports show our callers.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:print_summary=1:strict_string_checks=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/build-aux/lsan.supp:print_suppressions=0}
# The GUI tests' main-loop latency bounds, scaled for the sanitizers' slowdown (up to 770 ms measured).
export CLIPLAB_TEST_TIME_SCALE=${CLIPLAB_TEST_TIME_SCALE:-10}
meson test -C "$build" --print-errorlogs --timeout-multiplier 4 "$@"
