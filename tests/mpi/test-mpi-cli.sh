#!/usr/bin/env bash
# test-mpi-cli.sh CLIPLAB_CLI — `mpirun -np N cliplab-cli train` end to end on a drawn data set
# (shuffled, augmented): 2 and 4 ranks follow one process's loss curve; a run stopped and resumed
# with another number of ranks continues it; an unreadable image, a killed rank and a hung rank end
# the whole job with rank 0's message and the last checkpoint intact.  Prints TAP.
# shellcheck disable=SC2034  # cli is read by tap.sh
cli=$1
# shellcheck source=../cli/tap.sh
source "$(dirname "${BASH_SOURCE[0]}")/../cli/tap.sh"

if ! command -v mpirun >/dev/null 2>&1; then
  echo "1..0 # SKIP mpirun is not installed (Debian package openmpi-bin, in build-aux/setup.sh)"
  exit 0
fi

steps=12
arch=(--tokenizer bytes --image-size 32 --patch-size 8 --vision-width 32 --vision-layers 1 --vision-heads 2
      --text-width 32 --text-layers 1 --text-heads 2 --context-length 24 --embed-dim 32 --batch-size 8
      --lr 3e-3 --warmup 3 --seed 7 --augment --save-every 4 --threads 1)

# mpi NP ARGS...: cliplab-cli on NP ranks; stdout in $tmp/out, stderr in $tmp/err, exit status in $status.
mpi () {
  local np=$1
  shift
  last_command="mpirun -np $np cliplab-cli $*"
  timeout 300 mpirun --oversubscribe -np "$np" "$cli" "$@" >"$tmp/out" 2>"$tmp/err"
  status=$?
}

# same_losses LOG_A LOG_B: the same steps, losses within 1e-5 relative.
same_losses () {
  jq -e -n --slurpfile a "$1" --slurpfile b "$2" '
    ($a | map(select(.loss)) ) as $x | ($b | map(select(.loss))) as $y
    | ($x | length) == ($y | length) and ($x | length) > 0
    and ([range($x | length)] | all(. as $i | $x[$i].step == $y[$i].step
         and (($x[$i].loss - $y[$i].loss) | fabs) <= 1e-5 * ($y[$i].loss | fabs)))' >/dev/null
}

run dataset shapes --out "$tmp/data" --count 80 --seed 5
status_is 0
verdict "a data set of 64 training pairs"
train_args=(--csv "$tmp/data/train.csv" --img-root "$tmp/data" "${arch[@]}" --max-steps "$steps")

run train "${train_args[@]}" --out "$tmp/one" --log-json "$tmp/one.jsonl"
status_is 0 && [[ $(jq -s 'map(select(.loss)) | length' "$tmp/one.jsonl") -eq $steps ]]
verdict "one process trains $steps steps"

for np in 2 4; do
  mpi "$np" train "${train_args[@]}" --out "$tmp/np$np" --log-json "$tmp/np$np.jsonl"
  status_is 0 && same_losses "$tmp/np$np.jsonl" "$tmp/one.jsonl" && [[ -f $tmp/np$np/model.safetensors ]] \
    && [[ $(grep -c '^trained steps' "$tmp/out") -eq 1 ]]
  verdict "$np ranks: the loss of every step within 1e-5 of one process's; one report, from rank 0"
done

# Validation at each epoch end (8 steps) and at the last step: rank 0 alone validates while the
# others wait; the log has each validation line once, with one process's numbers.
run train "${train_args[@]}" --val-csv "$tmp/data/test.csv" --out "$tmp/val-one" --log-json "$tmp/val-one.jsonl"
status_is 0 && [[ $(jq -s 'map(select(.validation)) | length' "$tmp/val-one.jsonl") -eq 2 ]]
verdict "one process validates after steps 8 and $steps"
mpi 2 train "${train_args[@]}" --val-csv "$tmp/data/test.csv" --out "$tmp/val-np2" --log-json "$tmp/val-np2.jsonl"
status_is 0 && jq -e -n --slurpfile a "$tmp/val-np2.jsonl" --slurpfile b "$tmp/val-one.jsonl" '
  ($a | map(select(.validation))) as $x | ($b | map(select(.validation))) as $y
  | ($x | length) == 2 and ($x | map(.step)) == [8, '"$steps"'] and $x == $y' >/dev/null \
  && same_losses "$tmp/val-np2.jsonl" "$tmp/val-one.jsonl"
verdict "2 ranks: each validation line once, equal to one process's"

mpi 3 train "${train_args[@]}" --out "$tmp/np3"
status_is 1 && [[ $(grep -c "^cliplab-cli: rank 0 of 3: --batch-size 8 is the global batch: it must be a multiple of the 3 ranks" \
  "$tmp/err") -eq 1 ]] && [[ ! -e $tmp/np3/checkpoint-000001.safetensors ]]
verdict "a global batch that the ranks cannot share is refused, once, by rank 0"

# The 4-rank run stopped after its checkpoint at step 4 (its folder cut back to it), resumed on 2
# ranks: the log keeps steps 1-4 and continues one process's curve.
mkdir "$tmp/moved"
cp "$tmp/np4/checkpoint-000004.safetensors" "$tmp/moved/"
mpi 2 train --resume "$tmp/moved"
status_is 0 && same_losses "$tmp/np4.jsonl" "$tmp/one.jsonl" \
  && [[ $(jq -s 'map(select(.loss)) | length' "$tmp/np4.jsonl") -eq $steps ]]
verdict "a 4-rank run resumed on 2 ranks continues the same loss curve"
cp "$tmp/one.jsonl" "$tmp/one-straight.jsonl"
mkdir "$tmp/one-moved"
cp "$tmp/one/checkpoint-000008.safetensors" "$tmp/one-moved/"
mpi 4 train --resume "$tmp/one-moved"
status_is 0 && same_losses "$tmp/one.jsonl" "$tmp/one-straight.jsonl" && out_has "trained steps 9 to $steps"
verdict "a one-process run resumed on 4 ranks continues the same loss curve"

# An image that rank 1 cannot decode, needed after the first checkpoints.
cp -r "$tmp/data" "$tmp/bad"
bad_image=$(sed -n 40p "$tmp/bad/train.csv" | cut -d, -f1)
cp "$tmp/bad/$bad_image" "$tmp/saved.png"
echo "not a picture" >"$tmp/bad/$bad_image"
mpi 2 train --csv "$tmp/bad/train.csv" --img-root "$tmp/bad" "${arch[@]}" --max-steps 40 --save-every 1 \
  --out "$tmp/badrun" --log-json "$tmp/bad.jsonl"
status_is 1 && [[ $(grep -c "^cliplab-cli: rank [01] of 2: .*$bad_image" "$tmp/err") -eq 1 ]]
verdict "an image a rank cannot decode ends the job with one message naming the rank and the file"
last=$(find "$tmp/badrun" -name 'checkpoint-*.safetensors' | sort | tail -1)
cp "$tmp/saved.png" "$tmp/bad/$bad_image"
mpi 4 train --resume "$tmp/badrun"
status_is 0 && [[ -n $last ]] && out_has "trained steps $((10#$(basename "$last" .safetensors | cut -d- -f2) + 1)) to 40"
verdict "its last checkpoint is intact: with the image repaired, 4 ranks finish the run from it"

# A rank killed, and a rank that stops answering: the job ends, rank 0 says so, the run resumes.
long_args=(--csv "$tmp/data/train.csv" --img-root "$tmp/data" "${arch[@]}" --max-steps 1000000 --save-every 20)
for fault in KILL STOP; do
  dir=$tmp/fault-$fault
  timeout 120 mpirun --oversubscribe -np 2 "$cli" train "${long_args[@]}" --out "$dir" --log-json "$dir.jsonl" \
    --collective-timeout 5 >"$tmp/out" 2>"$tmp/err" &
  launcher=$!
  for _ in $(seq 300); do
    [[ -f $dir/checkpoint-000020.safetensors ]] && break
    sleep 0.1
  done
  mpirun_pid=$(pgrep -P "$launcher" | head -1)
  victim=$(pgrep -P "$mpirun_pid" | sort -n | tail -1)
  kill "-$fault" "$victim"
  start=$SECONDS
  wait "$launcher"
  status=$?
  last_command="mpirun -np 2 cliplab-cli train … ; kill -$fault one rank"
  kill -KILL "$victim" 2>/dev/null
  if [[ $fault == KILL ]]; then expected="the job is being ended"; else expected="have not answered for 5 s"; fi
  [[ $status -ne 0 && $status -ne 124 ]] && [[ $((SECONDS - start)) -le $((30 * ${CLIPLAB_TEST_TIME_SCALE:-1})) ]] \
    && grep -q "^cliplab-cli: rank 0 of 2: .*$expected" "$tmp/err"
  verdict "kill -$fault of a rank ends the job within 30 s (× CLIPLAB_TEST_TIME_SCALE) with rank 0's message"
  checkpoint=$(find "$dir" -name 'checkpoint-*.safetensors' | sort | tail -1)
  timeout 60 "$cli" info --model "$checkpoint" >"$tmp/out" 2>"$tmp/err"
  verdict "after kill -$fault the newest checkpoint loads"
done

echo "1..$n_tests"
