#!/usr/bin/env bash
# check-metainfo-screenshots.sh METAINFO SCREENSHOT_DIR — every screenshot that METAINFO lists is a
# PNG file of SCREENSHOT_DIR (by its URL's file name) with the width and height the metainfo states.
set -euo pipefail
metainfo=${1:?usage: check-metainfo-screenshots.sh METAINFO SCREENSHOT_DIR}
dir=${2:?usage: check-metainfo-screenshots.sh METAINFO SCREENSHOT_DIR}

# A PNG's width and height: big-endian 32-bit numbers at bytes 16 and 20 (the IHDR chunk).
png_size() {
  od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%d %d", $1*16777216 + $2*65536 + $3*256 + $4, $5*16777216 + $6*65536 + $7*256 + $8 }'
}

n=0
status=0
while read -r width height url; do
  n=$((n + 1))
  file="$dir/${url##*/}"
  if [[ ! -f "$file" ]]; then
    echo "$url: no ${url##*/} in $dir" >&2
    status=1
    continue
  fi
  if [[ "$(head -c 8 "$file" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]]; then
    echo "$file: not a PNG file" >&2
    status=1
    continue
  fi
  actual=$(png_size "$file")
  if [[ "$actual" != "$width $height" ]]; then
    echo "$file: $actual pixels, the metainfo says $width $height" >&2
    status=1
  fi
done < <(sed -n 's|.*<image type="source" width="\([0-9]*\)" height="\([0-9]*\)">\([^<]*\)</image>.*|\1 \2 \3|p' "$metainfo")
if [[ $n -eq 0 ]]; then
  echo "$metainfo: no screenshots" >&2
  exit 1
fi
if [[ $status -eq 0 ]]; then
  echo "$n screenshots, each in $dir with its stated size"
fi
exit $status
