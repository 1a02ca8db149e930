#!/usr/bin/env bash
# test-cli.sh CLIPLAB_CLI SECTION — runs cliplab-cli end to end on the tiny golden model (byte
# tokenizer) and checks its output with jq.  Prints TAP.  SECTION: help, errors, info, embed,
# infer or convert.  Needs CLIPLAB_SHARED (set by tests/meson.build).
# jq filters are single-quoted on purpose: their $a and $b are jq variables.
# shellcheck disable=SC2016
set -uo pipefail

cli=${1:?usage: test-cli.sh CLIPLAB_CLI SECTION}
section=${2:?usage: test-cli.sh CLIPLAB_CLI SECTION}
shared=${CLIPLAB_SHARED:?CLIPLAB_SHARED must point at the shared reference folder}
model=$shared/golden/models/tiny_quickgelu/hf
images=$shared/golden/images

# The TAP helpers, $tmp, and the jq check.
# shellcheck source=tests/cli/tap.sh
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

tiny=(--model "$model" --tokenizer bytes)

case $section in
help)
  run --help
  status_is 0 && out_has "Usage:" && out_has "embed" && out_has "convert"
  verdict "top-level --help exits 0 and lists the commands"
  for command in embed infer info convert; do
    run "$command" --help
    status_is 0 && out_has "Usage:" && out_has "--model" && out_has "--threads"
    verdict "$command --help exits 0 and shows its options"
    if [[ $command == embed || $command == infer ]]; then
      out_has "--precision"
      verdict "$command --help shows --precision"
    fi
  done
  run --version
  status_is 0 && grep -Eq '^cliplab-cli [0-9]+\.[0-9]+\.[0-9]+$' "$tmp/out"
  verdict "--version prints the version"
  ;;

errors)
  run info
  check_error "info without --model fails" "--model"
  run embed --text "a cat"
  check_error "embed without --model fails" "--model"
  run info --model "$tmp/does-not-exist"
  check_error "a missing model path fails naming it" "does-not-exist"
  printf 'ClipLab\x00\x13\x37\xff\xfe garbage' >"$tmp/corrupt.safetensors"
  run info --model "$tmp/corrupt.safetensors"
  check_error "a corrupt model file fails naming it" "corrupt.safetensors"
  run embed --model "$tmp/corrupt.safetensors" --token-ids 1,2
  check_error "embed on a corrupt model file fails naming it" "corrupt.safetensors"
  run frobnicate
  check_error "an unknown command fails" "frobnicate"
  run
  check_error "no command fails" "no command"
  run info --no-such-option
  check_error "an unknown option fails" "--no-such-option"
  run info "${tiny[@]}" stray-argument
  check_error "a stray argument fails" "stray-argument"
  run info "${tiny[@]}" --threads -2
  check_error "a negative --threads fails" "--threads"
  run info "${tiny[@]}" --threads two
  check_error "a non-numeric --threads fails" "two"
  run embed "${tiny[@]}"
  check_error "embed with nothing to embed fails" "nothing to embed"
  run embed "${tiny[@]}" --token-ids 1,x,3
  check_error "malformed --token-ids fail" "1,x,3"
  run embed "${tiny[@]}" --token-ids ""
  check_error "empty --token-ids fail" "at least one id"
  run embed "${tiny[@]}" --token-ids 5,1000
  check_error "--token-ids outside the vocabulary fail" "1000"
  run embed "${tiny[@]}" --token-ids 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17
  check_error "more --token-ids than the context length fail" "context length"
  run embed --model "$model" --text "a cat"
  check_error "--text on a model without a tokenizer fails" "tokenizer"
  run embed "${tiny[@]}" --image "$tmp/corrupt.safetensors"
  check_error "an unreadable --image fails naming it" "corrupt.safetensors"
  run convert "${tiny[@]}" --out "$tmp/x.safetensors" --dtype f64
  check_error "convert --dtype f64 fails" "f64"
  run convert "${tiny[@]}"
  check_error "convert without --out fails" "--out"
  run convert "${tiny[@]}" --out "$tmp/no-such-dir/x.safetensors"
  check_error "convert into a missing folder fails naming it" "x.safetensors"
  mkdir -p "$tmp/images"
  cp "$images/small_100x80.png" "$tmp/images/"
  run infer "${tiny[@]}" --image-dir "$tmp/images"
  check_error "infer without --classes fails" "--classes"
  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes "cat,,dog"
  check_error "an empty class name fails" "empty"
  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes "cat,dog" --template "a photo"
  check_error "a template without {} fails" "{}"
  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes "cat,dog" --templates "$tmp/no-templates.txt"
  check_error "a missing template file fails naming it" "no-templates.txt"
  run infer "${tiny[@]}" --image-dir "$tmp/no-such-dir" --classes "cat,dog"
  check_error "a missing image folder fails naming it" "no-such-dir"
  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes "cat,dog" --batch-size 0
  check_error "--batch-size 0 fails" "--batch-size"
  mkdir -p "$tmp/not-images"
  echo "not a picture" >"$tmp/not-images/notes.png"
  run infer "${tiny[@]}" --image-dir "$tmp/not-images" --classes "cat,dog"
  check_error "a folder without a readable image fails" "no readable image"
  stderr_has "notes.png"
  verdict "… and reports the file it could not read"
  ;;

info)
  run info "${tiny[@]}" --json
  status_is 0 && jq_out 'length == 1'
  verdict "info --json exits 0 with one JSON object"
  jq_out '.[0].architecture.vision | .width == 64 and .layers == 2 and .heads == 4 and .mlp_width == 256 and .activation == "quick_gelu"'
  verdict "architecture: vision tower"
  jq_out '.[0].architecture.text | .width == 48 and .layers == 2 and .heads == 4 and .mlp_width == 192 and .activation == "quick_gelu"'
  verdict "architecture: text tower"
  jq_out '.[0].architecture | [.vision.ln_eps, .text.ln_eps] | all(. > 0.99e-5 and . < 1.01e-5)'
  verdict "architecture: LayerNorm eps 1e-5 in both towers"
  jq_out '.[0].architecture | .image_size == 64 and .patch_size == 16 and .context_length == 16 and .vocab_size == 1000 and .embed_dim == 32'
  verdict "architecture: sizes"
  jq_out '.[0].n_params == 259521'
  verdict "parameter count is the file's 259521 elements"
  jq_out '.[0].dtype == "F32"'
  verdict "dtype F32"
  jq_out '.[0].layout | type == "string" and length > 0'
  verdict "layout is named"
  jq_out '.[0].tokenizer | .kind == "bytes" and .sot_id == 256 and .eot_id == 257 and (.description | length > 0)'
  verdict "tokenizer: the byte tokenizer (SOT 256, EOT 257)"
  jq_out '.[0].preprocess | .image_size == 64 and (.mean[0] - 0.48145466 | fabs) < 1e-6 and (.std[2] - 0.27577711 | fabs) < 1e-6'
  verdict "preprocessing: model size, OpenAI mean and std"
  jq_out '.[0].logit_scale | (.raw - 2.6592 | fabs) < 1e-6 and (.exp - (.raw | exp) | fabs) < 1e-4'
  verdict "logit scale: raw 2.6592 and its exp"
  run info --model "$model"
  status_is 0 && out_has "^tokenizer *none"
  verdict "info without a tokenizer reports none"
  run info "${tiny[@]}" --threads 1
  status_is 0 && out_has "^vision tower.*width 64" && out_has "^text tower.*width 48" && out_has "^parameters *259521"
  verdict "info as text exits 0 and shows both towers"
  ;;

embed)
  unit_norm='(.embedding | length == 32 and ((map(. * .) | add | sqrt) - 1 | fabs) < 1e-5)'
  run embed "${tiny[@]}" --json --token-ids 5,6,7,999
  status_is 0 && jq_out 'length == 1'
  verdict "embed --token-ids exits 0 with one object"
  jq_out '.[0] | .type == "text" and .input == "5,6,7,999" and .tokens == [5, 6, 7, 999]'
  verdict "token ids: type text, tokens as given"
  jq_out ".[0] | $unit_norm"
  verdict "token ids: 32 values with unit norm"
  cp "$tmp/out" "$tmp/ids.json"

  run embed "${tiny[@]}" --json --text "a cat" --image "$images/small_100x80.png" --token-ids 256,97,32,99,97,116,257
  status_is 0 && jq_out 'map(.type) == ["text", "image", "text"]'
  verdict "embed of a text, an image and ids exits 0, in command-line order"
  jq_out '.[0].tokens == [256, 97, 32, 99, 97, 116, 257] and .[0].input == "a cat"'
  verdict "text: byte tokens framed with SOT and EOT"
  jq_out "length == 3 and all(.[]; $unit_norm)"
  verdict "every embedding has 32 values with unit norm"
  jq_out 'length == 3 and ([.[0].embedding, .[2].embedding] | transpose | map(.[0] - .[1] | fabs) | max < 1e-6)'
  verdict "a text and its tokens fed as ids embed alike"
  jq_out 'length == 3 and ([.[0].embedding, .[1].embedding] | transpose | map(.[0] - .[1] | fabs) | max > 1e-3)'
  verdict "the image and the text embed differently"

  # 17 images: more than one batch of 16, and the same file in every row of the first batch.
  image_args=()
  for _ in {1..16}; do image_args+=(--image "$images/gray_257x129.png"); done
  image_args+=(--image "$images/small_100x80.png")
  run embed "${tiny[@]}" --json "${image_args[@]}"
  status_is 0 && jq_out "length == 17 and all(.[]; $unit_norm)"
  verdict "17 images over two batches: 17 unit embeddings"
  jq_out 'length == 17 and ([.[0:16][].embedding] | transpose | map(max - min) | max < 1e-5)'
  verdict "the same image embeds alike in every batch row"
  jq_out 'length == 17 and ([.[0].embedding, .[16].embedding] | transpose | map(.[0] - .[1] | fabs) | max > 1e-3)'
  verdict "the 17th image is the other one"

  run embed "${tiny[@]}" --token-ids 5,6,7,999 --text "a cat"
  status_is 0 && [[ $(wc -l <"$tmp/out") -eq 2 ]] && out_has '^text  ids 5,6,7,999 .*dim 32, norm 1\.0000' && out_has '^text  "a cat"'
  verdict "readable output: a line per input with its norm"
  run embed "${tiny[@]}" --json --token-ids 5,6,7,999 --threads 2
  status_is 0 && jq_files "$tmp/ids.json" '($b[0].embedding | length == 32) and ([$a[0].embedding, $b[0].embedding] | transpose | map(.[0] - .[1] | fabs) | max < 1e-5)'
  verdict "--threads 2 gives the same embedding"
  for precision in bf16 int8 auto; do
    run embed "${tiny[@]}" --json --token-ids 5,6,7,999 --precision "$precision"
    status_is 0 && jq_files "$tmp/ids.json" '[$a[0].embedding, $b[0].embedding] | transpose | map(.[0] * .[1]) | add > 0.99'
    verdict "--precision $precision: the embedding within cosine 0.99 of f32's"
  done
  run embed "${tiny[@]}" --json --token-ids 5,6,7,999 --precision fp8
  check_error "an unknown --precision fails" "fp8"
  ;;

infer)
  mkdir -p "$tmp/images/subfolder"
  cp "$images/scene_640x480.png" "$images/gray_257x129.png" "$tmp/images/"
  echo "not a picture" >"$tmp/images/notes.png"
  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes " cat, dog,car " --json
  status_is 0 && jq_out 'map(.image | split("/") | last) == ["gray_257x129.png", "scene_640x480.png"]'
  verdict "infer --json exits 0 with a line per readable image, in name order"
  stderr_has "notes.png"
  verdict "the unreadable file is reported on stderr"
  jq_out 'length == 2 and all(.[]; .predictions | map(.class) | sort == ["car", "cat", "dog"])'
  verdict "every class, trimmed, once per image"
  jq_out 'length == 2 and all(.[]; (.predictions | map(.prob) | add) - 1 | fabs < 1e-5)'
  verdict "probabilities sum to 1"
  jq_out 'length == 2 and all(.[]; .predictions | map(.prob) | all(. > 0 and . <= 1) and . == (sort | reverse))'
  verdict "probabilities are in (0, 1] and best first"
  cp "$tmp/out" "$tmp/batch16.json"

  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes $'cat\ndog\ncar' --json --batch-size 1
  status_is 0 && jq_files "$tmp/batch16.json" '([$a[].predictions[] | [.class, .prob]] | sort) as $x
    | ([$b[].predictions[] | [.class, .prob]] | sort) as $y
    | ($y | length) == 6 and ([$x, $y] | transpose | all(.[0][0] == .[1][0] and (.[0][1] - .[1][1] | fabs) < 1e-5))'
  verdict "classes split on newlines; --batch-size 1 gives the same probabilities"

  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes "cat,dog,car" --json --top 1
  status_is 0 && jq_files "$tmp/batch16.json" '[$b[].predictions | length] == [1, 1] and [$a[].predictions[0].class] == [$b[].predictions[0].class]'
  verdict "--top 1 keeps the best class"

  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes "cat,dog,car" --templates openai7 --json
  status_is 0 && jq_out 'length == 2 and all(.[]; (.predictions | map(.prob) | add) - 1 | fabs < 1e-5)' && ! cmp -s "$tmp/out" "$tmp/batch16.json"
  verdict "--templates openai7 gives other, normalised probabilities"
  printf 'a photo of a {}.\n' >"$tmp/templates.txt"
  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes "cat,dog,car" --templates "$tmp/templates.txt" --json
  status_is 0 && jq_out 'length == 2' && cmp -s "$tmp/out" "$tmp/batch16.json"
  verdict "a template file holding the default template gives the default result"
  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes "cat,dog,car" --template "a photo of a {}." --json
  status_is 0 && jq_out 'length == 2' && cmp -s "$tmp/out" "$tmp/batch16.json"
  verdict "--template with the default template gives the default result"

  run infer "${tiny[@]}" --image-dir "$tmp/images" --classes "cat,dog,car" --exif
  status_is 0 && head -n 1 "$tmp/out" | grep -q '^IMAGE  *CLASS  *PROB$' && [[ $(grep -c '%$' "$tmp/out") -eq 6 ]] \
    && out_has '^gray_257x129\.png  *[a-z]*  *[0-9.]*%$'
  verdict "the table: a header, a row per class, percentages"
  [[ $(awk '{ print index($0, "%") }' "$tmp/out" | sort -u | wc -l) -eq 2 ]]
  verdict "the table's columns are aligned"
  ;;

convert)
  run convert "${tiny[@]}" --out "$tmp/tiny-f16.safetensors" --dtype f16
  status_is 0 && [[ -s $tmp/tiny-f16.safetensors ]]
  verdict "convert --dtype f16 exits 0 and writes the file"
  [[ -f $tmp/tiny-f16.safetensors ]] && (( $(stat -c %s "$tmp/tiny-f16.safetensors") < 259521 * 3 ))
  verdict "the f16 file holds 2 bytes per parameter, not 4"
  run info "${tiny[@]}" --json
  cp "$tmp/out" "$tmp/info-f32.json"
  run info --model "$tmp/tiny-f16.safetensors" --json
  status_is 0 && jq_files "$tmp/info-f32.json" '$b[0].dtype == "F16" and $a[0].architecture == $b[0].architecture
    and $a[0].n_params == $b[0].n_params and $b[0].tokenizer.kind == "bytes" and $a[0].preprocess == $b[0].preprocess
    and $a[0].layout != $b[0].layout'
  verdict "info on the converted file: F16, same architecture, byte tokenizer kept"

  run embed "${tiny[@]}" --json --text "a cat" --image "$images/scene_640x480.png"
  cp "$tmp/out" "$tmp/embed-f32.json"
  run embed --model "$tmp/tiny-f16.safetensors" --json --text "a cat" --image "$images/scene_640x480.png"
  status_is 0 && jq_files "$tmp/embed-f32.json" '($b | length) == 2 and ([range(2) as $i | [$a[$i].embedding, $b[$i].embedding] | transpose | map(.[0] * .[1]) | add] | all(. > 0.999))'
  verdict "the f16 model embeds like the f32 one (cosine > 0.999)"

  run convert --model "$tmp/tiny-f16.safetensors" --out "$tmp/tiny-again.safetensors"
  status_is 0 && out_has "as F16"
  verdict "converting the converted file keeps F16 by default"
  run convert "${tiny[@]}" --out "$tmp/tiny-bf16.safetensors" --dtype BF16
  run info --model "$tmp/tiny-bf16.safetensors" --json
  status_is 0 && jq_out '.[0].dtype == "BF16"'
  verdict "convert --dtype BF16 (any case) writes BF16"
  ;;

*)
  echo "Bail out! unknown section '$section'"
  exit 1
  ;;
esac

echo "1..$n_tests"
