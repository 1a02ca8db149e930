# tap.sh — sourced by the command-line test scripts (test-cli.sh, test-cli-data.sh): runs cliplab-cli
# ($cli) in a scratch folder ($tmp, removed at exit) and prints TAP; the script ends with
# `echo "1..$n_tests"`.  Skips the whole script when jq, which checks the JSON output, is missing.
# shellcheck shell=bash

if ! command -v jq >/dev/null; then
  echo "1..0 # SKIP jq is not installed (bash build-aux/setup.sh deps installs it)"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

n_tests=0
# ok DESCRIPTION / not_ok DESCRIPTION: one TAP line; not_ok also shows the last command's output.
ok () { n_tests=$((n_tests + 1)); echo "ok $n_tests - $1"; }
# skip DESCRIPTION REASON: a test that cannot run here.
skip () { n_tests=$((n_tests + 1)); echo "ok $n_tests - $1 # SKIP $2"; }
not_ok () {
  n_tests=$((n_tests + 1))
  echo "not ok $n_tests - $1"
  echo "# command: ${last_command:-}"
  echo "# exit status: ${status:-}"
  sed 's/^/# stdout: /' "$tmp/out" 2>/dev/null | head -20
  sed 's/^/# stderr: /' "$tmp/err" 2>/dev/null | head -20
}
# CONDITION; verdict DESCRIPTION: ok when CONDITION succeeded.
verdict () {
  local result=$?
  if [[ $result -eq 0 ]]; then ok "$1"; else not_ok "$1"; fi
}

# run ARGS...: runs the CLI; stdout in $tmp/out, stderr in $tmp/err, exit status in $status.
# shellcheck disable=SC2154  # $cli is set by the sourcing script
run () {
  last_command="cliplab-cli $*"
  "$cli" "$@" >"$tmp/out" 2>"$tmp/err"
  status=$?
}
status_is () { [[ $status -eq $1 ]]; }
out_has () { grep -q -- "$1" "$tmp/out"; }
stderr_has () { grep -qF -- "$1" "$tmp/err"; }
# jq_out FILTER: FILTER is true of the last stdout, read as an array of its JSON lines.
jq_out () { jq -e -s "$1" "$tmp/out" >/dev/null; }
# jq_files FILE_A FILTER: FILTER is true with $a = FILE_A's lines and $b = the last stdout's.
jq_files () { jq -e -n --slurpfile a "$1" --slurpfile b "$tmp/out" "$2" >/dev/null; }
# A usage or load error: status 1 (not a crash), "cliplab-cli: " first, and the given text.
check_error () {
  local description=$1 text=$2
  status_is 1 && head -n 1 "$tmp/err" | grep -q '^cliplab-cli: ' && stderr_has "$text"
  verdict "$description (status 1, \"cliplab-cli: …$text…\" on stderr)"
}
