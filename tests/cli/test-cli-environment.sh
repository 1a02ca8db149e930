#!/usr/bin/env bash
# test-cli-environment.sh CLIPLAB_CLI SECTION — cliplab-cli where the environment is hostile (issue 13):
# output that cannot be written, named pipes where files are read, the model file rewritten while in
# use, concurrent searches, resource limits, signals and unusual arguments.  Prints TAP.  Needs
# CLIPLAB_SHARED (set by tests/meson.build).
# jq filters are single-quoted on purpose: their $a and $b are jq variables.
# shellcheck disable=SC2016
set -uo pipefail

cli=$(realpath "${1:?usage: test-cli-environment.sh CLIPLAB_CLI SECTION}")
section=${2:?usage: test-cli-environment.sh CLIPLAB_CLI SECTION}
shared=${CLIPLAB_SHARED:?CLIPLAB_SHARED must point at the shared reference folder}
model=$shared/golden/models/tiny_quickgelu/hf
images=$shared/golden/images

# shellcheck source=tests/cli/tap.sh
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

tiny=(--model "$model" --tokenizer bytes)
# The indexes go to the scratch folder, not the user's cache.
export XDG_CACHE_HOME=$tmp/cache
# A command that would block forever is a failure, not a hung test.
limit=(timeout -s KILL $((20 * ${CLIPLAB_TEST_TIME_SCALE:-1})))  # build-aux/sanitize.sh scales time

# run_limited ARGS...: like run, under the time limit.
run_limited () {
  last_command="cliplab-cli $*"
  "${limit[@]}" "$cli" "$@" >"$tmp/out" 2>"$tmp/err"
  status=$?
}

# make_big_pngs DIR N [WIDTH HEIGHT]: N different grey PNGs (4000 × 4000 by default) of a few
# hundred kilobytes at most, slow to decode and large once decoded.
make_big_pngs () {
  python3 - "$1" "$2" "${3:-4000}" "${4:-4000}" <<'PYTHON'
import os, struct, sys, zlib
folder, count, width, height = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.makedirs(folder, exist_ok=True)
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
for i in range(count):
    rows = b"".join(b"\0" + bytes([(i * 7 + y) % 256]) * width for y in range(height))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b"")
    with open(os.path.join(folder, "big%03d.png" % i), "wb") as f:
        f.write(png)
PYTHON
}

mkdir -p "$tmp/photos"
cp "$images/photo_512x384.jpg" "$images/small_100x80.png" "$images/scene_640x480.png" "$tmp/photos/"

case $section in
output)
  # Every command that prints results, its stdout on a full device.
  mkdir -p "$tmp/data"
  "$cli" dataset shapes --out "$tmp/data" --count 12 --seed 1 --image-size 32 >/dev/null 2>&1
  commands=(
    "info ${tiny[*]}"
    "embed ${tiny[*]} --text cat --json"
    "infer ${tiny[*]} --image-dir $tmp/photos --classes cat,dog"
    "index ${tiny[*]} $tmp/photos"
    "search ${tiny[*]} --query cat $tmp/photos"
    "evaluate ${tiny[*]} --csv $tmp/data/test.csv --img-root $tmp/data"
  )
  for command in "${commands[@]}"; do
    read -r -a args <<<"$command"
    last_command="cliplab-cli $command >/dev/full"
    "${limit[@]}" "$cli" "${args[@]}" >/dev/full 2>"$tmp/err"
    status=$?
    status_is 1 && stderr_has "writing the output failed: No space left on device"
    verdict "${args[0]} >/dev/full: status 1 and \"writing the output failed\""
  done
  last_command="cliplab-cli --version >/dev/full"
  "$cli" --version >/dev/full 2>"$tmp/err"
  status=$?
  status_is 1 && stderr_has "No space left on device"
  verdict "--version >/dev/full fails too"

  # Many lines, so that the output is flushed while the command still runs.
  last_command="cliplab-cli embed … --text ×400 --json | head -1"
  texts=()
  for i in $(seq 400); do texts+=(--text "photo $i"); done
  "$cli" embed "${tiny[@]}" --json "${texts[@]}" 2>"$tmp/err" | head -1 >"$tmp/out"
  statuses=("${PIPESTATUS[@]}")
  status=${statuses[0]}
  [[ ! -s $tmp/err ]] && [[ $(wc -l <"$tmp/out") -eq 1 ]] && { status_is 141 || status_is 0; }
  verdict "a reader that goes away (| head -1) ends the command quietly (SIGPIPE)"
  ;;

special-files)
  mkfifo "$tmp/fifo" "$tmp/photos/pipe.jpg"
  printf 'a photo of a {}.\n' >"$tmp/templates.txt"
  mkdir -p "$tmp/data"
  "$cli" dataset shapes --out "$tmp/data" --count 12 --seed 1 --image-size 32 >/dev/null 2>&1
  run_limited info --model "$tmp/fifo"
  check_error "--model a named pipe fails at once, naming it" "fifo: not a regular file but a named pipe"
  run_limited info --model "$model/model.safetensors" --config "$tmp/fifo"
  check_error "--config a named pipe fails at once" "named pipe"
  run_limited info --model "$model" --tokenizer "$tmp/fifo"
  check_error "--tokenizer a named pipe fails at once" "named pipe"
  run_limited infer "${tiny[@]}" --image-dir "$tmp/photos" --classes cat,dog --templates "$tmp/fifo"
  check_error "--templates a named pipe fails at once" "named pipe"
  run_limited embed "${tiny[@]}" --image "$tmp/fifo"
  check_error "embed --image a named pipe fails at once" "named pipe"
  run_limited search "${tiny[@]}" --image "$tmp/fifo" "$tmp/photos"
  check_error "search --image a named pipe fails at once" "not a regular file"
  run_limited evaluate "${tiny[@]}" --csv "$tmp/fifo" --img-root "$tmp/data"
  check_error "evaluate --csv a named pipe fails at once" "named pipe"
  run_limited train --csv "$tmp/fifo" --img-root "$tmp/data" --out "$tmp/run1" --tokenizer bytes
  check_error "train --csv a named pipe fails at once" "named pipe"
  run_limited train --csv "$tmp/data/train.csv" --img-root "$tmp/data" --out "$tmp/run2" --init "$tmp/fifo"
  check_error "train --init a named pipe fails at once" "named pipe"
  # A run folder whose checkpoint was swapped for a pipe: --resume reads it.
  mkdir -p "$tmp/run3"
  mkfifo "$tmp/run3/checkpoint-000010.safetensors"
  run_limited train --resume "$tmp/run3"
  check_error "train --resume on a checkpoint that is a named pipe fails at once" "named pipe"
  mkdir -p "$tmp/fashion"
  mkfifo "$tmp/fashion/train-images-idx3-ubyte.gz"
  run_limited dataset fashion-mnist --from "$tmp/fashion" --out "$tmp/f"
  check_error "dataset fashion-mnist --from a folder whose file is a named pipe fails at once" "named pipe"
  run_limited infer "${tiny[@]}" --image-dir "$tmp/photos" --classes cat,dog --json
  status_is 0 && jq_out 'length == 3'
  verdict "infer skips a named pipe among the images and classifies the rest"
  ;;

locks)
  run index "${tiny[@]}" "$tmp/photos"
  lock=$(find "$tmp/cache" -name '*.lock' | head -n 1)
  [[ -n $lock ]]
  verdict "index creates the lock file of the index"
  # Another reader in the middle of its check holds the lock shared.
  last_command="flock -s LOCK cliplab-cli search … (an up-to-date index)"
  flock -s "$lock" "${limit[@]}" "$cli" search "${tiny[@]}" --query cat --json "$tmp/photos" >"$tmp/out" 2>"$tmp/err"
  status=$?
  status_is 0 && jq_out 'length == 3'
  verdict "a search succeeds while another reader holds the index's lock"
  for i in 1 2 3 4; do
    "${limit[@]}" "$cli" search "${tiny[@]}" --query "cat $i" --json "$tmp/photos" >"$tmp/out$i" 2>"$tmp/err$i" &
  done
  all_ok=0
  for job in $(jobs -p); do wait "$job" || all_ok=1; done
  last_command="4 × cliplab-cli search … at once"
  status=$all_ok
  cat "$tmp"/err[1-4] >"$tmp/err"
  [[ $all_ok -eq 0 ]] && [[ ! -s $tmp/err ]]
  verdict "four searches of an up-to-date index at the same time all succeed"
  # An update holds it exclusively: a second update is refused, a search too (it might read a
  # half-written file).
  cp "$images/odd_225x301.png" "$tmp/photos/"
  last_command="flock -x LOCK cliplab-cli index …"
  flock -x "$lock" "${limit[@]}" "$cli" index "${tiny[@]}" "$tmp/photos" >"$tmp/out" 2>"$tmp/err"
  status=$?
  check_error "an update while another update holds the lock is refused" "another process is updating this index"
  # A reader's check is short: an update that has something to write waits for it.
  flock -s "$lock" sleep 1 &
  sleep 0.2
  run_limited index "${tiny[@]}" "$tmp/photos"
  wait
  status_is 0 && out_has "1 added"
  verdict "an update waits for a reader's check to finish, then writes"
  ;;

signals)
  small=(--vision-width 32 --vision-layers 1 --vision-heads 1 --patch-size 16 --image-size 64 --text-width 32
         --text-layers 1 --text-heads 1 --context-length 16 --embed-dim 16 --batch-size 4 --max-steps 2
         --tokenizer bytes)
  make_big_pngs "$tmp/big" 40
  { echo "image_path,caption"; for i in $(seq 0 39); do printf 'big%03d.png,grey picture %d\n' "$i" "$i"; done; } \
    >"$tmp/big.csv"
  # Ctrl-C while a new run is still decoding its images: no checkpoint exists yet.
  last_command="cliplab-cli train … (SIGINT while decoding)"
  "$cli" train --csv "$tmp/big.csv" --img-root "$tmp/big" --out "$tmp/run" "${small[@]}" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  sleep 0.7
  kill -INT "$pid"
  wait "$pid"
  status=$?
  checkpoints=$(find "$tmp/run" -name 'checkpoint-*' 2>/dev/null | wc -l)
  check_error "train: Ctrl-C while decoding says that nothing was saved" "stopped before the first training step; nothing was saved"
  [[ $checkpoints -eq 0 ]] && ! stderr_has "with a checkpoint"
  verdict "train: no checkpoint exists and none is claimed"

  # SIGTERM during `index`: what was embedded is flushed, like Ctrl-C.
  last_command="cliplab-cli index … (SIGTERM while embedding)"
  "$cli" index "${tiny[@]}" --flush-every 1 --batch-size 1 "$tmp/big" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  sleep 3
  kill -TERM "$pid"
  wait "$pid"
  status=$?
  check_error "index: SIGTERM stops it with the same message as Ctrl-C" "the images embedded so far are kept"
  run index "${tiny[@]}" "$tmp/big"
  added=$(grep -o '^[0-9]* added' "$tmp/out" | cut -d' ' -f1)
  status_is 0 && [[ -n $added && $added -lt 40 ]]
  verdict "index: the run after SIGTERM embeds only the rest (${added:-?} of 40)"

  # A file-size limit: write() fails with EFBIG instead of SIGXFSZ killing the writer, and no
  # temporary file is left beside the output.
  mkdir -p "$tmp/limited"
  last_command="(ulimit -f 100; cliplab-cli convert … --out limited/x.safetensors)"
  (ulimit -f 100; "$cli" convert "${tiny[@]}" --out "$tmp/limited/x.safetensors" >"$tmp/out" 2>"$tmp/err")
  status=$?
  check_error "convert over a file-size limit fails with a message" "File too large"
  [[ -z $(ls -A "$tmp/limited") ]]
  verdict "convert over a file-size limit leaves no file, temporary or not"
  ;;

limits)
  small=(--vision-width 32 --vision-layers 1 --vision-heads 1 --patch-size 16 --image-size 64 --text-width 32
         --text-layers 1 --text-heads 1 --context-length 16 --embed-dim 16 --batch-size 4 --max-steps 2
         --tokenizer bytes)
  run embed "${tiny[@]}" --text cat --threads 100000
  check_error "embed --threads 100000 is refused with the bound" "at most 256"
  run train --threads 100000 --csv x.csv --img-root . --out run
  check_error "train --threads 100000 is refused with the bound" "at most 256"
  run index "${tiny[@]}" --decode-threads 100000 "$tmp/photos"
  check_error "index --decode-threads 100000 is refused with the bound" "at most 256"

  mkdir -p "$tmp/data"
  "$cli" dataset shapes --out "$tmp/data" --count 40 --seed 1 --image-size 32 >/dev/null 2>&1

  # A low address-space limit: an error or success, never a hang (OpenBLAS retries its allocation
  # forever, at a product or at exit).
  if [[ -n ${CLIPLAB_SANITIZED:-} ]]; then
    for case in "embed under ulimit -v 100000" "embed under ulimit -v 200000" "embed under ulimit -v 300000" \
                "train under ulimit -v 200000"; do
      skip "$case" "built with -Db_sanitize=$CLIPLAB_SANITIZED (its shadow memory needs the address space)"
    done
  else
    for kb in 100000 200000 300000; do
      last_command="(ulimit -v $kb; cliplab-cli embed … --text cat --image …)"
      (ulimit -v "$kb"; "${limit[@]}" "$cli" embed "${tiny[@]}" --text cat --image "$tmp/photos/small_100x80.png" \
         >"$tmp/out" 2>"$tmp/err")
      status=$?
      { status_is 0 || { status_is 1 && head -n 1 "$tmp/err" | grep -q '^cliplab-cli: '; }; }
      verdict "ulimit -v $kb: embed ends (status $status), with a message if it fails"
    done
    last_command="(ulimit -v 200000; cliplab-cli train …)"
    (ulimit -v 200000; "${limit[@]}" "$cli" train --csv "$tmp/data/train.csv" --img-root "$tmp/data" \
       --out "$tmp/run-v" "${small[@]}" >"$tmp/out" 2>"$tmp/err")
    status=$?
    { status_is 0 || { status_is 1 && head -n 1 "$tmp/err" | grep -q '^cliplab-cli: '; }; }
    verdict "ulimit -v 200000: train ends (status $status), with a message if it fails"
  fi

  # Out of descriptors while the images are read (5: the CSV can be opened, two images at once not):
  # an error of the run, not skipped rows.
  for n in 5; do
    last_command="(ulimit -n $n; cliplab-cli train …)"
    (ulimit -n "$n"; "${limit[@]}" "$cli" train --csv "$tmp/data/train.csv" --img-root "$tmp/data" \
       --out "$tmp/run-n$n" "${small[@]}" >"$tmp/out" 2>"$tmp/err")
    status=$?
    check_error "ulimit -n $n: train fails for want of descriptors" "Too many open files"
    ! stderr_has "skipped"
    verdict "ulimit -n $n: no row is blamed for it"
  done
  last_command="(ulimit -n 6; cliplab-cli index --decode-threads 2 …)"
  (ulimit -n 6; "${limit[@]}" "$cli" index "${tiny[@]}" --decode-threads 2 "$tmp/data" >"$tmp/out" 2>"$tmp/err")
  status=$?
  check_error "ulimit -n 6: index fails for want of descriptors" "Too many open files"

  # Twelve decode threads on ten 48-megapixel images (144 MB each decoded): the decoders' memory
  # together stays near the 1 GiB budget (it peaked at 1.4 GB without it).
  make_big_pngs "$tmp/huge" 10 8000 6000
  last_command="/usr/bin/time -f %M cliplab-cli index --decode-threads 12 huge"
  if [[ -n ${CLIPLAB_SANITIZED:-} ]]; then
    skip "decoders' memory bounded" "built with -Db_sanitize=$CLIPLAB_SANITIZED (its redzones and quarantine add memory)"
  elif [[ -x /usr/bin/time ]]; then
    /usr/bin/time -o "$tmp/rss" -f %M "$cli" index "${tiny[@]}" --decode-threads 12 "$tmp/huge" >"$tmp/out" 2>"$tmp/err"
    status=$?
    rss_kb=$(tail -n 1 "$tmp/rss")
    status_is 0 && out_has "10 added" && [[ $rss_kb -lt 1100000 ]]
    verdict "index of ten 48-megapixel images on 12 decode threads peaks at $((rss_kb / 1000)) MB (< 1100)"
  else
    skip "decoders' memory bounded" "/usr/bin/time is not installed"
  fi

  # The decoded-image cache is checked against the free disk space before anything is reserved.
  "$cli" dataset shapes --out "$tmp/many" --count 2500 --seed 1 --image-size 16 >/dev/null 2>&1
  run train --csv "$tmp/many/train.csv" --img-root "$tmp/many" --out "$tmp/run-cache" --vision-width 32 \
    --vision-layers 1 --vision-heads 1 --patch-size 64 --image-size 4096 --text-width 32 --text-layers 1 \
    --text-heads 1 --context-length 16 --embed-dim 16 --batch-size 4 --max-steps 1 --tokenizer bytes
  check_error "train --image-size 4096 on 2,000 images: the 100 GB cache is refused, saying what is free" "GB are free there"
  ;;

arguments)
  mkdir -p "$tmp/-dash dir"
  cp "$images/small_100x80.png" "$tmp/-dash dir/"
  (cd "$tmp" && "$cli" index "${tiny[@]}" -- "-dash dir" >"$tmp/out" 2>"$tmp/err")
  status=$?
  last_command="cliplab-cli index … -- \"-dash dir\""
  status_is 0 && out_has "1 added"
  verdict "index: -- ends the options, a folder named -dash dir is indexed"
  (cd "$tmp" && "$cli" search "${tiny[@]}" --query cat --json -- "-dash dir" >"$tmp/out" 2>"$tmp/err")
  status=$?
  last_command="cliplab-cli search … -- \"-dash dir\""
  status_is 0 && jq_out 'length == 1'
  verdict "search: -- ends the options"
  # Two names that are not UTF-8 (they would both print as "\ufffd\ufffd.png") and one with an escape
  # sequence and a newline in it.
  mkdir -p "$tmp/names"
  cp "$images/small_100x80.png" "$tmp/names/"$'\xff\xfe.png'
  cp "$images/odd_225x301.png" "$tmp/names/"$'\xfe\xff.png'
  cp "$images/scene_640x480.png" "$tmp/names/"$'evil\e[31m\nname.png'
  run search "${tiny[@]}" --query cat --json --top 0 "$tmp/names"
  status_is 0 && jq_out 'length == 3 and (map(select(.path | type == "object")) | length == 2)'
  verdict "search --json: the two paths that are not UTF-8 come out as {\"bytes\": …}"
  all_exist=0
  while read -r encoded; do
    decoded=$(printf '%s' "$encoded" | base64 -d; printf x)
    [[ -f ${decoded%x} ]] || all_exist=1
  done < <(jq -r 'select(.path | type == "object") | .path.bytes' "$tmp/out")
  [[ $all_exist -eq 0 ]] && [[ $(jq -r 'select(.path | type == "object") | .path.bytes' "$tmp/out" | sort -u | wc -l) -eq 2 ]]
  verdict "search --json: the bytes decode to the two different files that exist"
  run search "${tiny[@]}" --query cat --top 0 "$tmp/names"
  status_is 0 && [[ $(wc -l <"$tmp/out") -eq 3 ]] && ! grep -q $'\e' "$tmp/out" && out_has 'evil\\u{001b}\[31m\\nname.png' \
    && out_has '\\xff\\xfe.png'
  verdict "search: plain text escapes control characters and bytes that are not UTF-8, one line per result"
  run infer "${tiny[@]}" --image-dir "$tmp/names" --classes cat,dog --json
  status_is 0 && jq_out 'map(select(.image | type == "object")) | length == 2'
  verdict "infer --json: the image paths that are not UTF-8 come out as {\"bytes\": …}"
  run infer "${tiny[@]}" --image-dir "$tmp/names" --classes cat,dog
  status_is 0 && ! grep -q $'\e' "$tmp/out" && [[ $(wc -l <"$tmp/out") -eq 7 ]]
  verdict "infer: the table escapes control characters in file names"

  run info "${tiny[@]}" -- stray
  check_error "info: an argument after -- is still an unexpected argument" "unexpected argument 'stray'"
  run info "${tiny[@]}" --
  status_is 0
  verdict "info: a trailing -- is accepted"
  ;;

*)
  echo "unknown section $section" >&2
  exit 2
  ;;
esac

echo "1..$n_tests"
