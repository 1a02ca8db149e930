#!/usr/bin/env bash
# test-cli-explore.sh CLIPLAB_CLI MODEL SECTION — `cliplab-cli map`, `duplicates` and `audit` end to
# end with the built-in model MODEL on Fashion-MNIST images (skipped without Debian's
# dataset-fashion-mnist), checked with jq.  Prints TAP.  SECTION: map, duplicates, audit or
# explore-errors.  The folder indexes go to a scratch $XDG_CACHE_HOME.
# jq filters are single-quoted on purpose: their $a and $b are jq variables.
# shellcheck disable=SC2016
set -uo pipefail

cli=${1:?usage: test-cli-explore.sh CLIPLAB_CLI MODEL SECTION}
model=${2:?usage: test-cli-explore.sh CLIPLAB_CLI MODEL SECTION}
section=${3:?usage: test-cli-explore.sh CLIPLAB_CLI MODEL SECTION}
fashion=/usr/share/datasets/fashion-mnist

# The TAP helpers, $tmp, and the jq check.
# shellcheck source=tests/cli/tap.sh
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
export XDG_CACHE_HOME=$tmp/cache

if [[ $section != explore-errors && ! -d $fashion ]]; then
  echo "1..0 # SKIP Debian's dataset-fashion-mnist is not installed (bash build-aux/setup.sh deps)"
  exit 0
fi
m=(--model "$model")

# fashion N: the first N test images in $tmp/fm (PNGs, test.csv with labels).
fashion () {
  "$cli" dataset fashion-mnist --out "$tmp/fm" --limit-train 1 --limit-test "$1" >/dev/null
}

# webdataset DIR OUT: the images of the class folders of DIR as WebDataset shards in OUT (split
# test, two shards, KEY.png with KEY.cls; keys are the file names, so they must be unique).
webdataset () {
  local dir=$1 out=$2 members=$2.members
  mkdir -p "$out/test" "$members"
  (cd "$dir" && find . -mindepth 1 -maxdepth 1 -type d | sed 's|^\./||' | LC_ALL=C sort) >"$out/classnames.txt"
  local class=0 name
  while read -r name; do
    for file in "$dir/$name"/*.png; do
      cp "$file" "$members/"
      printf '%d' "$class" >"$members/$(basename "$file" .png).cls"
    done
    class=$((class + 1))
  done <"$out/classnames.txt"
  local keys
  mapfile -t keys < <(cd "$members" && ls -- *.png | sed 's/\.png$//' | LC_ALL=C sort)
  local half=$(( ${#keys[@]} / 2 )) shard=0 start
  for start in 0 "$half"; do
    local length=$(( start == 0 ? half : ${#keys[@]} - half ))
    (cd "$members" && for key in "${keys[@]:start:length}"; do printf '%s.png\n%s.cls\n' "$key" "$key"; done \
       | tar -cf "$out/test/$shard.tar" -T -)
    shard=$((shard + 1))
  done
  echo 2 >"$out/test/nshards.txt"
}

case $section in
map)
  fashion 400
  run map "${m[@]}" --csv "$tmp/fm/test.csv" --img-root "$tmp/fm" --seed 3 --json
  status_is 0 && jq_out 'length == 401
    and (.[:400] | all(has("path") and (.x | type) == "number" and (.y | type) == "number"
                       and (.cluster | type) == "number" and (.label | type) == "string"))
    and (.[400].clusters | length >= 3)
    and ([.[400].clusters[].size] | add) == ([.[:400][] | select(.cluster >= 0)] | length)
    and ([.[400].clusters[].size] | . == (sort | reverse))
    and (.[400].clusters | all(.name | type == "string" and length > 0))'
  verdict "map --csv: one line per image with x, y, cluster and label, then the clusters, largest first"
  cp "$tmp/out" "$tmp/first.jsonl"
  jq_out '[.[:400][] | select(.label == "trouser") | .cluster] | group_by(.) | map(length) | max >= 30'
  verdict "map --csv: the trousers gather in one cluster"
  jq_out '.[400].clusters as $c | [.[:400][] | select(.label == "trouser") | .cluster] | group_by(.)
    | max_by(length)[0] as $id | ($c[] | select(.id == $id) | .name | test("trouser"))'
  verdict "map --csv: the trousers' cluster is named by the model after them"
  run map "${m[@]}" --csv "$tmp/fm/test.csv" --img-root "$tmp/fm" --seed 3 --json
  status_is 0 && cmp -s "$tmp/out" "$tmp/first.jsonl"
  verdict "map: the same seed gives the same map (the index's embeddings reused)"
  run map "${m[@]}" --csv "$tmp/fm/test.csv" --img-root "$tmp/fm" --seed 3
  status_is 0 && [[ $(grep -c 'fm/test/[0-9]*\.png$' "$tmp/out") -eq 400 ]] && out_has '^cluster 0: .* images)$'
  verdict "map without --json: a line per image (x, y, cluster, path), then the named clusters"
  run map "${m[@]}" --image-dir "$tmp/fm/test" --json
  status_is 0 && jq_out 'length == 401 and (.[:400] | all(has("label") | not))
    and (.[0].path | endswith("fm/test/000000.png"))'
  verdict "map --image-dir: every image, in path order, without labels in a flat folder"
  # the same 400 images as a Karpathy JSON (split val) and as a CSV, both without labels
  tail -n +2 "$tmp/fm/test.csv" | cut -d, -f1 | sed -n 1,400p >"$tmp/fm/names"
  { echo image_path,caption; sed 's/$/,a photo/' "$tmp/fm/names"; } >"$tmp/fm/plain.csv"
  jq -R '{filepath: (split("/")[0]), filename: (split("/")[1]), split: "val", sentences: [{raw: "a photo"}]}' \
    "$tmp/fm/names" | jq -s '{images: .}' >"$tmp/fm/karpathy.json"
  run map "${m[@]}" --csv "$tmp/fm/plain.csv" --img-root "$tmp/fm" --seed 3 --json
  cp "$tmp/out" "$tmp/plain.jsonl"
  run map "${m[@]}" --dataset "$tmp/fm/karpathy.json" --split val --seed 3 --json
  status_is 0 && cmp -s "$tmp/out" "$tmp/plain.jsonl" && jq_out 'length == 401'
  verdict "map --dataset KARPATHY.json --split val: the same map as the equivalent --csv"
  ;;

duplicates)
  fashion 60
  mkdir -p "$tmp/d/sub"
  cp "$tmp"/fm/test/0000[0-3]?.png "$tmp/d/"
  cp "$tmp/fm/test/000005.png" "$tmp/d/sub/again.png"
  cp "$tmp/fm/test/000005.png" "$tmp/d/sub/again2.png"
  run duplicates "${m[@]}" --image-dir "$tmp/d" --threshold 0 --json
  status_is 0 && jq_out 'length == 1 and .[0].exact == true and .[0].max_distance < 1e-6
    and (.[0].paths | length == 3 and (map(endswith("000005.png") or endswith("again.png") or endswith("again2.png")) | all))'
  verdict "duplicates --threshold 0: the three copies of one file form one exact group"
  run duplicates "${m[@]}" --image-dir "$tmp/d" --json
  status_is 0 && jq_out 'length >= 1 and ([.[].paths | length] | . == (sort | reverse))
    and all((.paths | length >= 2) and (.max_distance | type) == "number" and (.exact | type) == "boolean")
    and ([.[] | select(.paths | any(endswith("again.png")))] | length == 1
         and (.[0].paths | any(endswith("again2.png")) and any(endswith("/000005.png"))))'
  verdict "duplicates: groups largest first; the copies of a file in one group"
  run duplicates "${m[@]}" --image-dir "$tmp/d" --similar --json
  status_is 0 && jq_out '[.[].paths | length] | add >= 3'
  cp "$tmp/out" "$tmp/similar.jsonl"
  run duplicates "${m[@]}" --image-dir "$tmp/d" --threshold 0.05 --json
  status_is 0 && cmp -s "$tmp/out" "$tmp/similar.jsonl"
  verdict "duplicates --similar is --threshold 0.05"
  n_all=$(wc -l <"$tmp/out")
  run duplicates "${m[@]}" --image-dir "$tmp/d" --similar
  status_is 0 && out_has "^$n_all groups\? among 42 images$" && out_has '^  .*again2\.png$'
  verdict "duplicates without --json: each group, its paths indented, then the count"
  run duplicates "${m[@]}" --image-dir "$tmp/d" --similar --offset 1 --limit 1 --json
  status_is 0 && jq_out "length == ([$n_all - 1, 1] | min)"
  verdict "duplicates --offset 1 --limit 1: one page of one group"
  # the same images as class folders and as WebDataset shards
  mkdir -p "$tmp/dc/a" "$tmp/dc/b"
  cp "$tmp"/fm/test/0000[0-3]?.png "$tmp/dc/a/"
  cp "$tmp/fm/test/000005.png" "$tmp/dc/b/again.png"
  cp "$tmp/fm/test/000005.png" "$tmp/dc/b/again2.png"
  webdataset "$tmp/dc" "$tmp/dwds"
  run duplicates "${m[@]}" --image-dir "$tmp/dc" --similar --json
  cp "$tmp/out" "$tmp/dc.jsonl"
  run duplicates "${m[@]}" --dataset "$tmp/dwds" --threshold 0 --json
  status_is 0 && jq_out 'length == 1 and .[0].exact == true
    and (.[0].paths | length == 3 and all(test("/test/[01]\\.tar/(000005|again|again2)\\.png$")))'
  verdict "duplicates --dataset WEBDATASET --threshold 0: identical members form one exact group, named SHARD/MEMBER"
  run duplicates "${m[@]}" --dataset "$tmp/dwds" --similar --json
  status_is 0 && jq_files "$tmp/dc.jsonl" '($b | length >= 1)
    and ([$a[].paths | map(split("/")[-1]) | sort] | sort) == ([$b[].paths | map(split("/")[-1]) | sort] | sort)'
  verdict "duplicates --dataset WEBDATASET --similar: the groups of the same images as files"
  ;;

audit)
  fashion 300
  # the labels of rows 1-6 moved to another class: trouser ↔ bag, sneaker → ankle boot …
  awk -F, -v OFS=, 'NR >= 2 && NR <= 7 { $NF = ($NF == "trouser" ? "bag" : "trouser") } 1' \
    "$tmp/fm/test.csv" >"$tmp/fm/flipped.csv"
  run audit "${m[@]}" --csv "$tmp/fm/flipped.csv" --img-root "$tmp/fm" --outliers 5 --json
  status_is 0 && jq_out '[.[] | select(has("suggested"))] as $issues | [.[] | select(has("outlier_score"))] as $out
    | ($out | length == 5) and ($issues | length >= 6)
    and (. | map(has("outlier_score")) | . == sort)
    and ($issues | all(.label != .suggested and .confidence > 0 and .confidence <= 1))
    and ([$out[].outlier_score] | . == (sort | reverse))'
  verdict "audit --csv: label errors {path, label, suggested, confidence}, then 5 outliers, ranked"
  jq_out '[.[:12][] | select(has("suggested")) | .path | capture("(?<n>[0-9]+)\\.png$").n | tonumber]
    | map(select(. < 6)) | length >= 5'
  verdict "audit: at least 5 of the 6 flipped labels among the first 12 issues"
  run audit "${m[@]}" --csv "$tmp/fm/flipped.csv" --img-root "$tmp/fm" --outliers 2
  status_is 0 && out_has ' → .* %  .*\.png$' && [[ $(grep -c '^outlier ' "$tmp/out") -eq 2 ]]
  verdict "audit without --json: label → suggestion with its probability, then the outliers"
  mkdir -p "$tmp/classes"
  for class in trouser bag; do
    mkdir -p "$tmp/classes/$class"
    tail -n +2 "$tmp/fm/test.csv" | awk -F, -v c="$class" '$NF == c { print $1 }' | head -n 20 | while read -r p; do
      cp "$tmp/fm/$p" "$tmp/classes/$class/"
    done
  done
  # one bag filed with the trousers
  mv "$(find "$tmp/classes/bag" -name '*.png' | sort | head -n 1)" "$tmp/classes/trouser/misfiled.png"
  run audit "${m[@]}" --image-dir "$tmp/classes" --outliers 0 --json
  status_is 0 && jq_out '.[0].path | endswith("misfiled.png")' && jq_out '.[0].label == "trouser" and .[0].suggested == "bag"'
  verdict "audit --image-dir with class folders: the misfiled bag comes first, suggested as a bag"
  { echo image_path,caption,label
    (cd "$tmp/classes" && find . -name '*.png' | sed 's|^\./||' | LC_ALL=C sort | awk -F/ '{ print $0 ",x," $1 }')
  } >"$tmp/classes.csv"
  run audit "${m[@]}" --csv "$tmp/classes.csv" --img-root "$tmp/classes" --outliers 3 --json
  cp "$tmp/out" "$tmp/classes-csv.jsonl"
  run audit "${m[@]}" --dataset "$tmp/classes" --outliers 3 --json
  status_is 0 && cmp -s "$tmp/out" "$tmp/classes-csv.jsonl" && jq_out '.[0].path | endswith("misfiled.png")'
  verdict "audit --dataset CLASS-FOLDERS: the folder's labels, the same output as the equivalent --csv"
  webdataset "$tmp/classes" "$tmp/cwds"
  run audit "${m[@]}" --dataset "$tmp/cwds" --outliers 3 --json
  status_is 0 && jq_out '.[0].path | test("/test/[01]\\.tar/misfiled\\.png$")' \
    && jq_out '.[0].label == "trouser" and .[0].suggested == "bag"'
  verdict "audit --dataset WEBDATASET: the misfiled bag, read from its shard, comes first, suggested as a bag"
  jq_files "$tmp/classes-csv.jsonl" '[$a[] | .path |= split("/")[-1]] == [$b[] | .path |= split("/")[-1]]'
  verdict "audit --dataset WEBDATASET: the same issues and outliers as the same images in class folders"
  run map "${m[@]}" --dataset "$tmp/cwds" --json
  status_is 0 && jq_out 'length == 41 and (.[:40] | all(.label == "trouser" or .label == "bag"))
    and ([.[:40][] | select(.path | test("/test/1\\.tar/"))] | length == 20)'
  verdict "map --dataset WEBDATASET: every member of both shards with its class name"
  cp -r "$tmp/cwds" "$tmp/cwds-val" && mv "$tmp/cwds-val/test" "$tmp/cwds-val/val"
  run audit "${m[@]}" --dataset "$tmp/cwds-val" --split val --outliers 3 --json
  status_is 0 && jq_out '.[0].path | test("/val/[01]\\.tar/misfiled\\.png$")'
  verdict "audit --dataset WEBDATASET --split val: the shards of that split"
  ;;

explore-errors)
  run map --model "$model"
  check_error "map without images" "give --image-dir DIR, or --csv FILE with --img-root DIR"
  run map --model "$model" --csv x.csv
  check_error "map --csv without --img-root" "give --image-dir DIR, or --csv FILE with --img-root DIR"
  run map --model "$model" --image-dir x --dataset y
  check_error "map --image-dir with --dataset" "--dataset PATH [--split NAME] [--img-root DIR]"
  run map --model "$model" --image-dir x --split val
  check_error "map --split without --dataset" "--dataset PATH [--split NAME] [--img-root DIR]"
  mkdir -p "$tmp/wds/test" && echo 1 >"$tmp/wds/test/nshards.txt" && echo cat >"$tmp/wds/classnames.txt"
  run audit --model "$model" --dataset "$tmp/wds"
  check_error "audit --dataset WEBDATASET without its shard" "0.tar"
  run map --model "$model" --dataset "$tmp/missing.json"
  check_error "map --dataset of a missing file" "missing.json"
  mkdir -p "$tmp/flat"
  run audit --model "$model" --image-dir "$tmp/flat"
  check_error "audit without labels" "needs labels"
  run duplicates --model "$model" --image-dir "$tmp/flat" --threshold 3
  check_error "duplicates --threshold 3" "--threshold is a cosine distance in [0, 2]"
  run map --model "$model" --image-dir "$tmp/flat"
  check_error "map of an empty folder" "a map needs at least 3"
  run duplicates --model "$model" --image-dir "$tmp/flat" --json
  status_is 0 && [[ ! -s $tmp/out ]]
  verdict "duplicates of an empty folder: no group"
  "$cli" dataset shapes --out "$tmp/few" --count 5 >/dev/null
  run map --model "$model" --image-dir "$tmp/few/train" --json
  status_is 0 && jq_out 'length == 5 and .[4].clusters == [] and (.[:4] | all(.cluster == -1))'
  verdict "map of 4 images: too few for a cluster, all -1"
  ;;

*)
  echo "unknown section $section" >&2
  exit 2
  ;;
esac

echo "1..$n_tests"
