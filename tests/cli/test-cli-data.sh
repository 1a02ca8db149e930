#!/usr/bin/env bash
# test-cli-data.sh CLIPLAB_CLI SECTION — runs `cliplab-cli dataset` and `cliplab-cli evaluate` end to
# end (evaluate on the tiny golden model with the byte tokenizer) and checks the output with jq.
# Prints TAP.  SECTION: dataset, evaluate, formats or data-errors.  Needs CLIPLAB_SHARED (set by
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
  # Training captions in many phrasings, each naming the first shape's kind; test captions the full
  # description of the scene.
  run dataset shapes --out "$tmp/v" --count 200 --seed 5
  full='^a (small|large) [a-z]+ [a-z]+ (on the left|on the right|at the top|at the bottom|(left of|right of|above|below) a (small|large) [a-z]+ [a-z]+)$'
  tail -n +2 "$tmp/v/test.csv" | cut -d, -f2 >"$tmp/v-test-captions"
  tail -n +2 "$tmp/v/train.csv" | cut -d, -f2 >"$tmp/v-train-captions"
  ! grep -qvE "$full" "$tmp/v-test-captions"
  verdict "every test caption of shapes is the full description"
  tail -n +2 "$tmp/v/train.csv" | awk -F, '{ split($3, label, " "); if (index($2, label[2]) == 0) bad++ } END { exit bad > 0 }' \
    && grep -qE '^(a |one )?[a-z]+ (circle|square|triangle|star)$' "$tmp/v-train-captions" \
    && grep -qE '^(a picture of )?two ' "$tmp/v-train-captions" && grep -qE "$full" "$tmp/v-train-captions" \
    && [[ $(sort -u "$tmp/v-train-captions" | wc -l) -ge 80 ]]
  verdict "shapes training captions mix short phrases, counts and full descriptions, each naming its shape"

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
    run dataset fashion-mnist --from "$fashion" --out "$tmp/fv" --limit-train 300 --limit-test 30
    tail -n +2 "$tmp/fv/test.csv" | awk -F, '{ if (index($2, $3) == 0) bad++ } END { exit bad > 0 }'
    verdict "every Fashion-MNIST test caption holds its class name"
    tail -n +2 "$tmp/fv/train.csv" | cut -d, -f2 >"$tmp/fv-captions"
    grep -qxE '[a-z-]+' "$tmp/fv-captions" && grep -qE '^a pair of|^(trousers|pants|jeans|slacks|sneakers|shoes|boots)\.?$' "$tmp/fv-captions" \
      && tail -n +2 "$tmp/fv/train.csv" | awk -F, '{ if (index($2, $3) == 0) other++ } END { exit other < 50 }' \
      && [[ $(sort -u "$tmp/fv-captions" | wc -l) -ge 100 ]]
    verdict "Fashion-MNIST training captions mix bare words, plurals, synonyms and templates"
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

formats)
  # The shapes test split as an image folder and as WebDataset shards (written with tar), the same images.
  run dataset shapes --out "$tmp/s" --count 40 --seed 2 --image-size 64
  mkdir -p "$tmp/folder" "$tmp/wds/test" "$tmp/members"
  tail -n +2 "$tmp/s/test.csv" | awk -F, '{ print $3 }' | sort -u >"$tmp/wds/classnames.txt"
  printf 'a photo of a {c}.\n' >"$tmp/wds/zeroshot_classification_templates.txt"
  i=0
  while IFS=, read -r path _ label; do
    mkdir -p "$tmp/folder/$label"
    cp "$tmp/s/$path" "$tmp/folder/$label/"
    key=$(printf 'sample%04d' "$i")
    cp "$tmp/s/$path" "$tmp/members/$key.png"
    grep -nxF -- "$label" "$tmp/wds/classnames.txt" | cut -d: -f1 | awk '{ printf "%d", $1 - 1 }' >"$tmp/members/$key.cls"
    i=$((i + 1))
  done < <(tail -n +2 "$tmp/s/test.csv")
  (cd "$tmp/members" && tar -cf "$tmp/wds/test/0.tar" sample000[0-3].* && tar -cf "$tmp/wds/test/1.tar" sample000[4-9].*)
  echo 2 >"$tmp/wds/test/nshards.txt"

  run evaluate "${tiny[@]}" --dataset "$tmp/folder" --json --template "a photo of a {}."
  status_is 0 && jq_out '.[0] | keys == ["zero_shot"] and (.zero_shot | has("mean_per_class_recall"))'
  verdict "an image folder: zero-shot only, with mean_per_class_recall"
  cp "$tmp/out" "$tmp/folder.json"
  run evaluate "${tiny[@]}" --dataset "$tmp/wds" --json
  status_is 0 && jq_files "$tmp/folder.json" '$a[0].zero_shot == $b[0].zero_shot'
  verdict "WebDataset shards with their {c} template give the folder's numbers"
  run evaluate "${tiny[@]}" --csv "$tmp/s/test.csv" --json
  status_is 0 && jq_files "$tmp/folder.json" '$a[0].zero_shot | del(.per_class) == ($b[0].zero_shot | del(.per_class))'
  verdict "… and the CSV's with the same images and labels"

  run evaluate "${tiny[@]}" --dataset "$tmp/wds" --benchmark-json "$tmp/bench.json" --model-name tiny --pretrained golden
  status_is 0 && jq -e --slurpfile z "$tmp/folder.json" '
    (keys == ["dataset", "language", "metrics", "model", "pretrained", "task"]) and .dataset == "wds"
    and .model == "tiny" and .pretrained == "golden" and .task == "zeroshot_classification" and .language == "en"
    and (.metrics | keys == ["acc1", "acc5", "mean_per_class_recall"])
    and .metrics.acc1 == $z[0].zero_shot.top1 and .metrics.acc5 == $z[0].zero_shot.top5
    and .metrics.mean_per_class_recall == $z[0].zero_shot.mean_per_class_recall' "$tmp/bench.json" >/dev/null
  verdict "--benchmark-json writes CLIP_benchmark's classification result"
  out_has "mean per-class recall"
  verdict "… and the report is still printed"

  run evaluate "${tiny[@]}" --csv "$tmp/s/test.csv" --recall-k 1,2,3 --json --task zeroshot_retrieval \
    --benchmark-json "$tmp/retrieval.json"
  status_is 0 && jq_out '.[0].image_to_text | keys == ["R@1", "R@2", "R@3"]'
  verdict "--recall-k 1,2,3 names the recalls in --json"
  jq_files "$tmp/retrieval.json" '$a[0].task == "zeroshot_retrieval" and ($a[0].metrics | keys | length) == 6
    and $a[0].metrics["image_retrieval_recall@2"] == $b[0].text_to_image["R@2"]
    and $a[0].metrics["text_retrieval_recall@3"] == $b[0].image_to_text["R@3"]'
  verdict "… and the retrieval result file holds image_ and text_retrieval_recall@K"

  run train --dataset "$tmp/folder" --out "$tmp/run" --max-steps 2 --batch-size 4 --vision-width 32 \
    --vision-layers 1 --vision-heads 2 --patch-size 16 --image-size 32 --text-width 32 --text-layers 1 \
    --text-heads 2 --context-length 16 --embed-dim 16 --save-every 0 --val-dataset "$tmp/wds"
  status_is 0 && [[ -f $tmp/run/model.safetensors ]]
  verdict "train --dataset FOLDER --val-dataset SHARDS trains and saves"
  rm "$tmp/run/model.safetensors"
  run train --resume "$tmp/run"
  status_is 0 && [[ -f $tmp/run/model.safetensors ]]
  verdict "… and resumes from its checkpoint while the folder is unchanged"
  first_class=$(head -n 1 "$tmp/wds/classnames.txt")
  cp "$(find "$tmp/folder/$first_class" -name '*.png' | head -n 1)" "$tmp/folder/$first_class/added.png"
  rm "$tmp/run/model.safetensors"
  run train --resume "$tmp/run"
  check_error "a class folder changed since the checkpoint stops the resume" "data set changed"

  run evaluate "${tiny[@]}" --dataset "$tmp/folder" --csv "$tmp/s/test.csv"
  check_error "--dataset and --csv together fail" "give one"
  run evaluate "${tiny[@]}" --dataset "$tmp/folder" --recall-k 0
  check_error "--recall-k 0 fails" "--recall-k"
  run evaluate "${tiny[@]}" --dataset "$tmp/folder" --task zeroshot_retrieval
  check_error "retrieval on a data set without captions fails" "no captions"
  run evaluate "${tiny[@]}" --dataset "$tmp/folder" --task zeroshot_ranking
  check_error "an unknown --task fails before anything is read" "--task zeroshot_ranking"
  run evaluate "${tiny[@]}" --dataset "$tmp/no-such-folder"
  check_error "a missing data set fails naming it" "no-such-folder"
  run evaluate "${tiny[@]}" --dataset "$tmp/wds" --split validation
  check_error "a missing split fails naming it" "validation"
  head -c 3000 "$tmp/wds/test/1.tar" >"$tmp/wds/test/1.cut" && mv "$tmp/wds/test/1.cut" "$tmp/wds/test/1.tar"
  run evaluate "${tiny[@]}" --dataset "$tmp/wds" --json
  status_is 0 && stderr_has "1.tar: skipped" && stderr_has "truncated"
  verdict "a truncated shard is reported naming it and the rest is evaluated"
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
