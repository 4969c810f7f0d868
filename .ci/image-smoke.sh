#!/usr/bin/env bash
# The image's file system without a container engine: deploy/image-rootfs.sh (what the
# Dockerfile runs) around a built scalerd, then scalerd inside it (chroot, user 65532, nothing
# else in the file system): --version, `check` of a cron config in a named time zone (read from
# the copied zoneinfo), and `run --dry-run` answering /livez, /readyz and /metrics.
#
#   bash .ci/image-smoke.sh target/debug/scalerd     # as root (chroot)
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:?usage: image-smoke.sh SCALERD}
[ "$(id -u)" = 0 ] || { echo "image-smoke.sh: needs root for chroot"; exit 1; }
rootfs=$(mktemp -d /tmp/scalerd-rootfs.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$rootfs"
}
trap cleanup EXIT
sh deploy/image-rootfs.sh "$binary" "$rootfs"
in_image() { chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/scalerd "$@"; }

in_image --version
mkdir -p "$rootfs/etc/scalerd"
cp examples/configs/cron.yaml "$rootfs/etc/scalerd/scalerd.yaml"
grep -q 'timezone: Europe/Berlin' "$rootfs/etc/scalerd/scalerd.yaml"
in_image check --config /etc/scalerd/scalerd.yaml
# What the image holds besides the binary and its libraries (`strace -e openat` shows the
# check above reading /usr/share/zoneinfo).
[ -s "$rootfs/usr/share/zoneinfo/Europe/Berlin" ]
[ -s "$rootfs/etc/ssl/certs/ca-certificates.crt" ]

# A free port (a taken one would let another process answer the probes below).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# chroot execs scalerd, so $! is scalerd itself and SIGTERM reaches it.
chroot --userspec=65532:65532 "$rootfs" /usr/local/bin/scalerd run --config /etc/scalerd/scalerd.yaml \
  --dry-run --admin-addr "127.0.0.1:$port" >"$rootfs/tmp/run.log" 2>&1 &
pid=$!
deadline=$(( SECONDS + 30 ))
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "scalerd exited in the image's file system:"; cat "$rootfs/tmp/run.log"; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "scalerd not ready in 30 s:"; cat "$rootfs/tmp/run.log"; exit 1; }
  sleep 0.1
done
kill -0 "$pid" 2>/dev/null || { echo "scalerd exited:"; cat "$rootfs/tmp/run.log"; exit 1; }
curl -sf "http://127.0.0.1:$port/livez" >/dev/null
metrics=$(curl -sf "http://127.0.0.1:$port/metrics")
grep -q '^scalers_leader 1' <<<"$metrics"
kill -TERM "$pid"
wait "$pid"
pid=
echo "image file system: $(du -sh "$rootfs" | cut -f1); scalerd ran in it as 65532 and stopped cleanly"
