#!/usr/bin/env bash
# test-cli-hub.sh CLIPLAB_CLI FAKE_HUB_SERVER — `model download` and `model list` against the
# hub-like server of tests/fakehub.c on 127.0.0.1 (its first transfer of the weights is cut half-way),
# then the downloaded model used by its id, offline.  Prints TAP.  Needs CLIPLAB_SHARED.
# shellcheck disable=SC2016
set -uo pipefail

cli=${1:?usage: test-cli-hub.sh CLIPLAB_CLI FAKE_HUB_SERVER}
server=${2:?usage: test-cli-hub.sh CLIPLAB_CLI FAKE_HUB_SERVER}
shared=${CLIPLAB_SHARED:?CLIPLAB_SHARED must point at the shared reference folder}

# shellcheck source=tests/cli/tap.sh
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"

# The server reads a fifo we hold open: closing it ends the server.
mkfifo "$tmp/server-in"
exec 3<>"$tmp/server-in"
"$server" "$shared" <"$tmp/server-in" >"$tmp/url" 2>"$tmp/server-err" 3>&- &
server_pid=$!
trap 'exec 3>&-; wait "$server_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  [[ -s $tmp/url ]] && break
  sleep 0.05
done
endpoint=$(head -n 1 "$tmp/url")

# HF_HOME holds the token file: never the tester's own.
mkdir -p "$tmp/hf-home"
export HF_ENDPOINT=$endpoint HF_HUB_CACHE=$tmp/cache HF_HOME=$tmp/hf-home
unset HF_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE

run model download test/tiny-clip --json
status_is 0 && jq_out 'length == 1 and .[0].repo == "test/tiny-clip" and .[0].revision == "main"
  and .[0].commit == "1111111111111111111111111111111111111111" and .[0].files == 2
  and .[0].retries == 1 and .[0].downloaded_bytes > 1000000 and .[0].cached_bytes == 0'
verdict "model download fetches config and weights, resuming the connection cut half-way"
snapshot=$(jq -r .path "$tmp/out")
[[ $(readlink "$snapshot/model.safetensors") == ../../blobs/* ]] && [[ ! -e $snapshot/pytorch_model.bin ]] \
  && cmp -s "$snapshot/model.safetensors" "$shared/golden/models/tiny_quickgelu/hf/model.safetensors" \
  && [[ $(cat "$tmp/cache/models--test--tiny-clip/refs/main") == 1111111111111111111111111111111111111111 ]]
verdict "the snapshot links to verified blobs, refs/main names the commit, no .bin fetched"

run model download test/tiny-clip
status_is 0 && out_has "0 B downloaded" && out_has "already in the cache"
verdict "a second download transfers nothing"

run model download test/tiny-clip --revision 1111111111111111111111111111111111111111 --json
status_is 0 && jq_out '.[0].revision == "1111111111111111111111111111111111111111" and .[0].downloaded_bytes == 0
  and .[0].path == "'"$snapshot"'"'
verdict "--revision takes a commit, already in the cache"
run model download test/tiny-clip --revision v9
check_error "an unknown revision fails" 'no revision "v9"'

run model list --json
status_is 0 && jq_out 'length == 1 and .[0].repo == "test/tiny-clip" and .[0].refs == ["main"]
  and .[0].layout == "hf" and .[0].size > 1000000'
verdict "model list shows the cached model"

run model list --available --json
status_is 0 && jq_out 'length >= 4 and (map(.repo) | index("openai/clip-vit-base-patch32") != null)
  and (map(.repo) | index("laion/CLIP-ViT-B-32-laion2B-s34B-b79K") != null)
  and all(.download_bytes > 500000000 and (.description | length) > 20 and .cached == false)'
verdict "model list --available shows the catalogue with sizes and uses"

run embed --model "$shared/golden/models/tiny_quickgelu/hf" --json --token-ids 5,6,7,999
cp "$tmp/out" "$tmp/direct.jsonl"
HF_HUB_OFFLINE=1 HF_ENDPOINT=http://127.0.0.1:1 run embed --model test/tiny-clip --json --token-ids 5,6,7,999
status_is 0 && jq_files "$tmp/direct.jsonl" '$a[0].embedding == $b[0].embedding'
verdict "--model ORG/NAME loads from the cache offline and embeds as the model directory does"

run model download test/gated
check_error "a gated model without a token fails" "HF_TOKEN"
HF_TOKEN=secret-token run model download test/gated --json
status_is 0 && jq_out '.[0].repo == "test/gated"'
verdict "HF_TOKEN opens a gated model"
printf 'secret-token\n' >"$tmp/hf-home/token"
HF_HUB_CACHE=$tmp/cache-token-file run model download test/gated --json
status_is 0 && jq_out '.[0].repo == "test/gated"'
verdict "the token file \$HF_HOME/token opens a gated model when HF_TOKEN is unset"
rm "$tmp/hf-home/token"

HF_HUB_CACHE=$tmp/cache-rev run model download test/tiny-clip@1111111111111111111111111111111111111111 --json
status_is 0 && jq_out '.[0].repo == "test/tiny-clip" and .[0].revision == "1111111111111111111111111111111111111111"'
verdict "model download ORG/NAME@COMMIT fetches that commit"
HF_HUB_CACHE=$tmp/cache-rev HF_HUB_OFFLINE=1 run embed --model test/tiny-clip@1111111111111111111111111111111111111111 \
  --json --token-ids 5,6,7,999
status_is 0 && jq_files "$tmp/direct.jsonl" '$a[0].embedding == $b[0].embedding'
verdict "--model ORG/NAME@COMMIT loads that snapshot offline"
HF_HUB_OFFLINE=1 run embed --model test/tiny-clip@v9 --json --token-ids 5
check_error "--model ORG/NAME@REV with a revision the cache does not know fails naming it" '"v9"'
run model download test/tiny-clip@main --revision v9
check_error "model download with two different revisions fails" 'but "v9" is asked for too'

run model download test/no-such-model
check_error "a missing repository fails" "no such model repository"
run model download not-a-repo-id
check_error "a malformed id fails" "not a Hugging Face model id"
run model frobnicate
check_error "an unknown model subcommand fails" "frobnicate"
HF_HUB_OFFLINE=1 run model download test/other
check_error "offline, a model not in the cache fails" "offline"

# Ctrl-C half-way: only the .incomplete blob stays (nothing in the snapshot or refs), and the next
# download resumes it.
"$cli" model download test/slow --json >"$tmp/out" 2>"$tmp/err" &
download_pid=$!
partial=
for _ in $(seq 200); do
  partial=$(find "$tmp/cache/models--test--slow/blobs" -name '*.incomplete' -size +300k 2>/dev/null | head -n 1)
  [[ -n $partial ]] && break
  sleep 0.05
done
kill -INT "$download_pid"
wait "$download_pid"
status=$?
kept=$(stat -c %s "$partial" 2>/dev/null || echo 0)
status_is 1 && stderr_has "download cancelled" && (( kept > 300000 && kept < 2000000 )) \
  && [[ ! -e $tmp/cache/models--test--slow/refs/main ]] \
  && [[ ! -e $tmp/cache/models--test--slow/snapshots/3333333333333333333333333333333333333333/model.safetensors ]]
verdict "Ctrl-C cancels at once, keeping only the .incomplete blob ($kept bytes)"
run model download test/slow --json
status_is 0 && jq -e -s --argjson kept "$kept" '.[0].downloaded_bytes == 2000000 - $kept' "$tmp/out" >/dev/null \
  && [[ ! -e $partial ]] && [[ -e $tmp/cache/models--test--slow/refs/main ]]
verdict "the next download resumes from the kept bytes"

echo "1..$n_tests"
