#!/usr/bin/env bash
# run.sh DURATION [HARNESS…] — builds the libFuzzer harnesses with clang (AddressSanitizer and
# UndefinedBehaviorSanitizer) in build-fuzz/ and runs each for DURATION seconds, at low priority,
# then prints a table of executions and findings.
#
#   bash tests/fuzz/run.sh 600                       every harness, 10 minutes each
#   bash tests/fuzz/run.sh 60 safetensors metadata   just these
#
# Environment: CLIPLAB_FUZZ_JOBS (harnesses run at once, default 1), CLIPLAB_FUZZ_BUILD_DIR (default
# build-fuzz), CLIPLAB_SHARED (the reference folder, default ../shared).
#
# Seeds are regenerated from the shared reference files each run (make-seeds.py); the corpus each
# harness grows is kept in build-fuzz/fuzz-corpus/<harness>/ for the next run.  Every crash, leak,
# timeout or out-of-memory input is copied to tests/fuzz/regressions/<harness>/, where the normal
# test suite replays it (tests/test-fuzz-regressions.c): fix the bug, keep the file.
# A harness keeps going after a finding (libFuzzer's fork mode); exits 1 when any found something.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
duration=${1:?usage: run.sh DURATION [HARNESS…]}
shift
build=${CLIPLAB_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=${CLIPLAB_FUZZ_JOBS:-1}
shared=${CLIPLAB_SHARED:-$root/../shared}
all=(safetensors model-weights config-hf config-open-clip config-preprocessor metadata tokenizer-vocab
     tokenizer-merges tokenizer-json tokenizer-gz tokenizer-encode image-preprocess image-file csv index)
harnesses=("$@")
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=("${all[@]}")

log () { printf 'run.sh: %s\n' "$*" >&2; }

if [[ ! -f $shared/golden/models/tiny_quickgelu/hf/model.safetensors ]]; then
  log "the shared reference folder is not at $shared: set CLIPLAB_SHARED"
  exit 1
fi
shared=$(cd "$shared" && pwd)

# clang with its libFuzzer and sanitizer runtimes (Debian: libclang-rt-14-dev), python3 for seeds.
if ! command -v clang >/dev/null || [[ ! -f $(clang -print-file-name=libclang_rt.fuzzer-x86_64.a) ]] \
   || ! command -v python3 >/dev/null; then
  log "installing clang, its runtimes and python3"
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    clang libclang-rt-dev python3
fi

cd "$root"
if [[ ! -f $build/build.ninja ]]; then
  CC=clang meson setup "$build" -Dfuzzing=true -Dgui=disabled -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer -Wno-pass-failed" \
    "-Dshared_dir=$shared"
fi
if ! ninja -C "$build" "${harnesses[@]/#/tests/fuzz/fuzz-}"; then
  # Others may be editing the tree: fuzz the harnesses last built rather than nothing.
  for name in "${harnesses[@]}"; do
    [[ -x $build/tests/fuzz/fuzz-$name ]] || { log "the build failed and fuzz-$name was never built"; exit 1; }
  done
  log "WARNING: the build failed; fuzzing the harnesses as last built"
fi

seeds=$build/fuzz-seeds
rm -rf "$seeds"
python3 tests/fuzz/make-seeds.py "$seeds" "$shared"

dict_for () {
  case $1 in
    safetensors|model-weights) echo tests/fuzz/safetensors.dict ;;
    tokenizer-merges|tokenizer-gz) echo tests/fuzz/merges.dict ;;
    tokenizer-encode) echo tests/fuzz/text.dict ;;
    csv) echo tests/fuzz/csv.dict ;;
    image-*|index|webdataset) ;;
    *) echo tests/fuzz/json.dict ;;
  esac
}
max_len_for () {
  case $1 in
    image-file|tokenizer-gz|webdataset) echo 65536 ;;
    tokenizer-encode|image-preprocess) echo 4096 ;;
    *) echo 16384 ;;
  esac
}

# run_one HARNESS: fuzzes it for DURATION seconds; its log is $build/fuzz-logs/HARNESS.log.
run_one () {
  local name=$1
  local corpus=$build/fuzz-corpus/$name artifacts=$build/fuzz-artifacts/$name/
  local dict
  dict=$(dict_for "$name")
  mkdir -p "$corpus" "$artifacts" "$build/fuzz-logs"
  mkdir -p "$seeds/$name"
  # Halt on the first report; leaks are findings too.  GLib's criticals abort (fuzz-targets.c).
  ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  TMPDIR=$scratch CLIPLAB_SHARED=$shared OPENBLAS_NUM_THREADS=1 \
  nice -n 19 "$build/tests/fuzz/fuzz-$name" \
    -max_total_time="$duration" -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len_for "$name")" \
    ${dict:+-dict=$dict} -artifact_prefix="$artifacts" -print_final_stats=1 -close_fd_mask=1 \
    -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
    "$corpus" "$seeds/$name" >"$build/fuzz-logs/$name.log" 2>&1 || true
}

# The harnesses' scratch files (in memory when /dev/shm exists), removed at the end even when a
# crashed harness could not remove its own.
scratch=$(mktemp -d "$([[ -d /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/cliplab-fuzz-run.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

running=0
for name in "${harnesses[@]}"; do
  log "fuzzing $name for $duration s"
  run_one "$name" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

found=0
printf '%-22s %12s %10s %8s %9s\n' harness executions exec/s corpus findings
for name in "${harnesses[@]}"; do
  logfile=$build/fuzz-logs/$name.log
  # Fork mode's progress lines: "#EXECS: cov: … exec/s: RATE …"; the last one counts them all.
  execs=$(grep -o '^#[0-9]*: ' "$logfile" | tail -n 1 | tr -d '#: ')
  rate=$(grep '^#[0-9]*: ' "$logfile" | tail -n 1 | sed -n 's/.*exec\/s:\{0,1\} *\([0-9]*\).*/\1/p')
  corpus_size=$(find "$build/fuzz-corpus/$name" -type f | wc -l)
  findings=0
  for artifact in "$build/fuzz-artifacts/$name"/*; do
    [[ -f $artifact ]] || continue
    findings=$((findings + 1))
    mkdir -p "tests/fuzz/regressions/$name"
    cp -n "$artifact" "tests/fuzz/regressions/$name/"
  done
  printf '%-22s %12s %10s %8s %9s\n' "$name" "${execs:-?}" "${rate:-?}" "$corpus_size" "$findings"
  if [[ $findings -gt 0 ]]; then
    found=1
    log "$name: findings copied to tests/fuzz/regressions/$name/; the report is in $logfile"
  fi
done
[[ $found -eq 0 ]]
