#!/usr/bin/env bash
# test-cli-data.sh CLIPLAB_CLI SECTION — runs `cliplab-cli dataset` and `cliplab-cli evaluate` end to
# end (evaluate on the tiny golden model with the byte tokenizer) and checks the output with jq.
# Prints TAP.  SECTION: dataset, evaluate or data-errors.  Needs CLIPLAB_SHARED (set by
# tests/meson.build).
# jq filters are single-quoted on purpose: their $a and $b are jq variables.
# shellcheck disable=SC2016
set -uo pipefail

cli=${1:?usage: test-cli-data.sh CLIPLAB_CLI SECTION}
section=${2:?usage: test-cli-data.sh CLIPLAB_CLI SECTION}
shared=${CLIPLAB_SHARED:?CLIPLAB_SHARED must point at the shared reference folder}
model=$shared/golden/models/tiny_quickgelu/hf
fashion=/usr/share/datasets/fashion-mnist

# The TAP helpers, $tmp, and the jq check.
# shellcheck source=tests/cli/tap.sh
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

# csv_rows FILE: data rows (the generators write no quoted newlines).
csv_rows () { echo $(($(wc -l <"$1") - 1)); }
# png_size FILE: WIDTHxHEIGHT from the PNG's IHDR chunk.
png_size () { od -An -tu1 -j16 -N8 "$1" | awk '{ print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8 }'; }

tiny=(--model "$model" --tokenizer bytes)

case $section in
dataset)
  run dataset --help
  status_is 0 && out_has "fashion-mnist" && out_has "shapes"
  verdict "dataset --help exits 0 and lists the kinds"
  run dataset shapes --help
  status_is 0 && out_has "--count" && out_has "--image-size" && out_has "--seed"
  verdict "dataset shapes --help shows its options"

  run dataset shapes --out "$tmp/a" --count 30 --seed 5
  status_is 0 && out_has "train.csv (24 images), test.csv (6 images)"
  verdict "dataset shapes --count 30 exits 0 and reports 24 + 6 images"
  [[ $(head -n 1 "$tmp/a/train.csv") == image_path,caption,label && $(csv_rows "$tmp/a/train.csv") -eq 24 \
     && $(csv_rows "$tmp/a/test.csv") -eq 6 && $(find "$tmp/a/train" -name '*.png' | wc -l) -eq 24 ]]
  verdict "train.csv and test.csv have the header and a row per PNG"
  run dataset shapes --out "$tmp/b" --count 30 --seed 5
  diff -r "$tmp/a" "$tmp/b" >/dev/null
  verdict "the same seed writes the same bytes"
  run dataset shapes --out "$tmp/c" --count 30 --seed 6
  ! cmp -s "$tmp/a/train.csv" "$tmp/c/train.csv"
  verdict "another seed draws other scenes"
  held_out=$(sed -n 's/^# Held out of train.csv[^:]*: //p' "$tmp/a/classes.txt")
  [[ -n $held_out ]]
  verdict "classes.txt names the held-out pairs"
  found=0
  IFS=, read -ra pairs <<<"$held_out"
  for pair in "${pairs[@]}"; do
    pair=${pair# }
    if grep -q -- "$pair" "$tmp/a/train.csv"; then found=1; fi
  done
  [[ ${#pairs[@]} -ge 2 && $found -eq 0 ]]
  verdict "no held-out pair appears in train.csv"
  run dataset shapes --out "$tmp/big" --count 10 --image-size 96
  status_is 0 && [[ $(png_size "$tmp/big/test/000000.png") == 96x96 ]]
  verdict "--image-size 96 draws 96×96 PNGs"

  if [[ -f $fashion/train-images-idx3-ubyte.gz ]]; then
    run dataset fashion-mnist --from "$fashion" --out "$tmp/f" --limit-train 20 --limit-test 10
    status_is 0 && [[ $(csv_rows "$tmp/f/train.csv") -eq 20 && $(csv_rows "$tmp/f/test.csv") -eq 10 ]]
    verdict "dataset fashion-mnist --limit-train 20 --limit-test 10 writes 20 + 10 rows"
    tail -n +2 "$tmp/f/train.csv" | awk -F, '{ print $3 }' | sort -u >"$tmp/labels"
    grep -vxFf <(grep -v '^#' "$tmp/f/classes.txt") "$tmp/labels" >/dev/null
    [[ $? -eq 1 && -s $tmp/labels ]]
    verdict "every label is one of the ten class names in classes.txt"
    [[ $(png_size "$tmp/f/train/000019.png") == 28x28 ]]
    verdict "the PNGs are 28×28"
  else
    skip "dataset fashion-mnist" "Debian's dataset-fashion-mnist is not installed"
  fi
  ;;

evaluate)
  run dataset shapes --out "$tmp/s" --count 40 --seed 2 --image-size 64
  run evaluate "${tiny[@]}" --csv "$tmp/s/test.csv" --img-root "$tmp/s" --json
  status_is 0 && jq_out 'length == 1'
  verdict "evaluate --json exits 0 with one object"
  cp "$tmp/out" "$tmp/eval.json"
  jq_out '.[0] | (keys == ["image_to_text", "text_to_image", "zero_shot"])
    and ([.image_to_text, .text_to_image][] | keys == ["R@1", "R@10", "R@5"])'
  verdict "the object holds both recall directions and zero_shot"
  jq_out '.[0] | [.image_to_text, .text_to_image][] | .["R@1"] <= .["R@5"] and .["R@5"] <= .["R@10"] and .["R@1"] >= 0'
  verdict "R@1 ≤ R@5 ≤ R@10, all fractions"
  jq_out '.[0] | .image_to_text["R@10"] == 1 and .text_to_image["R@10"] == 1'
  verdict "8 pairs: R@10 is 1 both ways"
  tail -n +2 "$tmp/s/test.csv" | awk -F, '{ print $3 }' | sort -u | jq -R . | jq -s . >"$tmp/labels.json"
  jq_files "$tmp/labels.json" '$b[0].zero_shot | (.per_class | keys) == ($a[0] | sort)
    and (.confusion | length) == ($a[0] | length) and all(.confusion[]; length == ($a[0] | length))'
  verdict "zero_shot: a per-class accuracy and a confusion row per distinct label"
  jq_out '.[0].zero_shot | ([.confusion[][]] | add) == 8 and .top1 <= .top5 and .top5 <= 1
    and all(.per_class[]; . >= 0 and . <= 1)'
  verdict "the confusion matrix counts the 8 images; accuracies are fractions"
  jq_out '.[0].zero_shot as $z | ([range($z.confusion | length) as $i | $z.confusion[$i][$i]] | add) / 8 - $z.top1 | fabs < 1e-9'
  verdict "top-1 is the confusion matrix's diagonal over the images"

  # Recall@1 recomputed from `embed`: each image's best caption has the image's own caption text
  # (image → text), each caption's best image carries that caption (text → image).
  embed_args=()
  while IFS=, read -r path caption _; do embed_args+=(--image "$tmp/s/$path"); done < <(tail -n +2 "$tmp/s/test.csv")
  while IFS=, read -r _ caption _; do embed_args+=(--text "$caption"); done < <(tail -n +2 "$tmp/s/test.csv")
  run embed "${tiny[@]}" --json "${embed_args[@]}"
  status_is 0 && jq_files "$tmp/eval.json" '
    def dot($x; $y): [$x, $y] | transpose | map(.[0] * .[1]) | add;
    ($b | length / 2) as $n | [$b[0:$n][].embedding] as $img | [$b[$n:][].embedding] as $txt
    | [$b[$n:][].input] as $cap
    | ([range($n) as $i | ([range($n) as $j | {s: dot($img[$i]; $txt[$j]), c: $cap[$j]}] | max_by(.s) | .c) == $cap[$i]]
       | map(if . then 1 else 0 end) | add / $n) as $i2t
    | ([range($n) as $j | ([range($n) as $i | {s: dot($img[$i]; $txt[$j]), c: $cap[$i]}] | max_by(.s) | .c) == $cap[$j]]
       | map(if . then 1 else 0 end) | add / $n) as $t2i
    | ($i2t - $a[0].image_to_text["R@1"] | fabs) < 1e-9 and ($t2i - $a[0].text_to_image["R@1"] | fabs) < 1e-9'
  verdict "R@1 both ways equals the one recomputed from embed's embeddings"

  run evaluate "${tiny[@]}" --csv "$tmp/s/test.csv" --img-root "$tmp/s" --templates openai7 --json
  status_is 0 && jq_files "$tmp/eval.json" '$b[0].image_to_text == $a[0].image_to_text and ($b[0].zero_shot | .top1 >= 0 and .top1 <= 1)'
  verdict "--templates openai7 changes only zero-shot"
  run evaluate "${tiny[@]}" --csv "$tmp/s/test.csv" --json --template "a {}" --template "art of the {}" --batch-size 3
  status_is 0 && jq_out '.[0].zero_shot.per_class | length > 0'
  verdict "--template twice, --batch-size 3 and the CSV's folder as the image root"

  run evaluate "${tiny[@]}" --csv "$tmp/s/test.csv" --img-root "$tmp/s"
  status_is 0 && out_has "image → text" && out_has "text → image" && out_has "zero-shot over" && out_has "R@10"
  verdict "the readable report shows both directions and the zero-shot summary"
  label=$(tail -n +2 "$tmp/s/test.csv" | head -n 1 | awk -F, '{ print $3 }')
  out_has "$label"
  verdict "… and a row per label"

  # No label column: no zero_shot.  Bad rows are reported with their lines and skipped.
  cp "$tmp/s/test/000000.png" "$tmp/s/test/000001.png" "$tmp/s/"
  echo "not a picture" >"$tmp/s/notes.png"
  printf 'caption,image_path\n"a first, quoted caption",000000.png\nmissing,absent.png\nnotes,notes.png\nsecond,000001.png\n' >"$tmp/s/pairs.csv"
  run evaluate "${tiny[@]}" --csv "$tmp/s/pairs.csv" --json
  status_is 0 && jq_out '.[0] | keys == ["image_to_text", "text_to_image"]'
  verdict "a CSV without labels: retrieval only"
  stderr_has "pairs.csv:3: skipped absent.png: no such file" && stderr_has "pairs.csv:4: skipped notes.png: not an image"
  verdict "skipped rows are reported with their line numbers and reasons"
  jq_out '.[0] | .image_to_text["R@5"] == 1 and .text_to_image["R@5"] == 1'
  verdict "two pairs left: R@5 is 1"
  ;;

data-errors)
  run dataset
  check_error "dataset without a kind fails" "no kind"
  run dataset frobnicate
  check_error "an unknown kind fails" "frobnicate"
  run dataset shapes --out "$tmp/x"
  check_error "shapes without --count fails" "--count"
  run dataset shapes --out "$tmp/x" --count 1
  check_error "shapes --count 1 fails" "scene count 1"
  run dataset shapes --out "$tmp/x" --count 10 --image-size 4
  check_error "shapes --image-size 4 fails" "image size 4"
  run dataset shapes --out "$tmp/x" --count 10 --seed -3
  check_error "a negative --seed fails" "--seed"
  run dataset fashion-mnist --from "$tmp/no-such-dir" --out "$tmp/x"
  check_error "fashion-mnist from a folder without IDX files fails naming it" "no-such-dir"
  run dataset fashion-mnist --out "$tmp/x" --limit-train -1
  check_error "a negative --limit-train fails" "--limit-train"
  run dataset fashion-mnist
  check_error "fashion-mnist without --out fails" "--out"

  mkdir -p "$tmp/d"
  cp "$shared/golden/images/small_100x80.png" "$tmp/d/a.png"
  printf 'image_path,label\na.png,cat\n' >"$tmp/d/no-caption.csv"
  printf 'image_path,caption\nmissing.png,a cat\n../a.png,a dog\n' >"$tmp/d/all-bad.csv"
  printf 'image_path,caption\na.png,a cat\n' >"$tmp/d/ok.csv"
  run evaluate "${tiny[@]}"
  check_error "evaluate without --csv fails" "--csv"
  run evaluate "${tiny[@]}" --csv "$tmp/d/no-caption.csv"
  check_error "a CSV without a caption column fails naming the file" "no-caption.csv"
  stderr_has "'caption'"
  verdict "… and the missing column"
  run evaluate "${tiny[@]}" --csv "$tmp/d/all-bad.csv"
  check_error "a CSV without a usable row fails" "no usable row"
  stderr_has "line 2 (missing.png): no such file" && stderr_has "line 3 (../a.png): the relative path leads outside"
  verdict "… naming each row and why"
  run evaluate "${tiny[@]}" --csv "$tmp/d/no-such.csv"
  check_error "a missing CSV fails naming it" "no-such.csv"
  run evaluate "${tiny[@]}" --csv "$tmp/d/ok.csv" --img-root "$tmp/no-root"
  check_error "a missing image root fails naming it" "no-root"
  run evaluate "${tiny[@]}" --csv "$tmp/d/ok.csv" --batch-size 0
  check_error "--batch-size 0 fails" "--batch-size"
  run evaluate "${tiny[@]}" --csv "$tmp/d/ok.csv" --template "no placeholder"
  check_error "a template without {} fails" "{}"
  run evaluate --model "$model" --csv "$tmp/d/ok.csv"
  check_error "a model without a tokenizer fails" "tokenizer"
  ;;

*)
  echo "Bail out! unknown section '$section'"
  exit 1
  ;;
esac

echo "1..$n_tests"
