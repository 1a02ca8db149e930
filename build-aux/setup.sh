#!/usr/bin/env bash
# setup.sh — install what ClipLab needs, build it, test it, run it.
#
#   bash build-aux/setup.sh deps    install the missing Debian packages (apt-get; only if some are missing)
#   bash build-aux/setup.sh build   deps, then configure (first time) and build in ./build
#   bash build-aux/setup.sh test    build, then run the whole test suite
#   bash build-aux/setup.sh run [FOLDER|CSV|APP OPTIONS…]   build, then launch the application
#                                   build, then classify a sample folder with the model in $CLIPLAB_MODEL
#
# Every step is idempotent.  CLIPLAB_BUILD_DIR overrides the build folder (default: build).
set -euo pipefail

caller_dir=$PWD
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${CLIPLAB_BUILD_DIR:-build}
cd "$root"

packages=(
  meson ninja-build pkg-config
  gcc                   # with its AddressSanitizer and UBSan runtimes (build-aux/sanitize.sh, CI)
  libglib2.0-dev libjson-glib-dev libgdk-pixbuf-2.0-dev libopenblas-dev
  libxxhash-dev         # index checksums and content hashes
  libsoup-3.0-dev glib-networking  # Hugging Face hub downloads (HTTPS through glib-networking)
  libgtk-4-dev          # the GTK application
  xvfb xauth dbus       # GUI tests on a virtual display (xvfb-run needs xauth)
  xdotool               # GUI tests drag with the real pointer (XTest): the grid's rubber band
  fonts-dejavu-core adwaita-icon-theme  # text and icons for the application on a bare machine
  fonts-nanum           # Hangul glyphs for the Korean translation
  desktop-file-utils appstream  # validating the .desktop and metainfo files
  gettext               # translations (msgfmt) and the Korean completeness check
  jq                    # the command-line tests check JSON output with it
  libcairo2-dev         # drawing the shapes data set
  webp-pixbuf-loader heif-gdk-pixbuf libavif-gdk-pixbuf  # photos as people have them: WebP, HEIC/HEIF, AVIF
  libheif-examples libavif-bin  # heif-enc and avifenc: the GUI library test makes its HEIC and AVIF samples
  dataset-fashion-mnist # cliplab-cli dataset fashion-mnist reads its IDX files
  libopenmpi-dev openmpi-bin  # data-parallel training (mpirun -np N cliplab-cli train) and its tests
  libarchive-dev        # WebDataset shards (tar) read streaming
)

log () { printf 'setup.sh: %s\n' "$*" >&2; }

step_deps () {
  local missing=() package
  for package in "${packages[@]}"; do
    if [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null) != installed ]]; then
      missing+=("$package")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  log "installing ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

step_build () {
  step_deps
  if [[ ! -f $build_dir/meson-private/coredata.dat ]]; then
    meson setup "$build_dir" --buildtype=release
  elif [[ ! -f $build_dir/build.ninja ]]; then
    meson setup --reconfigure "$build_dir"
  fi
  # ninja re-runs meson itself when a meson.build changed.
  ninja -C "$build_dir"
}

step_test () {
  step_build
  meson test -C "$build_dir" --print-errorlogs
}

# The application on the built-in model and the sample folder (or the folders, CSV data sets or
# options given after 'run').  Without a display it says so instead of failing obscurely.
step_run () {
  step_build
  if [[ -z ${DISPLAY:-} && -z ${WAYLAND_DISPLAY:-} ]]; then
    log "no display (DISPLAY/WAYLAND_DISPLAY unset): start ClipLab from a desktop session, or try"
    log "  xvfb-run -a bash build-aux/setup.sh run"
    exit 1
  fi
  local args=("$@") build
  [[ ${#args[@]} -gt 0 ]] || args=("$root/data/samples")
  build=$(cd "$build_dir" && pwd)
  cd "$caller_dir"
  GSETTINGS_SCHEMA_DIR=$build/data exec "$build/src/app/cliplab" "${args[@]}"
}

command=${1:-}
[[ $# -gt 0 ]] && shift
case $command in
  deps) step_deps ;;
  build) step_build ;;
  test) step_test ;;
  run) step_run "$@" ;;
  *)
    echo "usage: bash build-aux/setup.sh deps|build|test|run [folder, CSV or application options]" >&2
    exit 1
    ;;
esac
