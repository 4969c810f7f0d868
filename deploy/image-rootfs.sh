#!/bin/sh
# The file system of the scalerd image: the binary, the shared libraries it links (glibc,
# libgcc, OpenSSL), the CA certificates, the time zone database the cron trigger reads before
# its compiled-in copy, and the user scalerd (65532). The Dockerfile runs it in its build stage
# and copies the result into an empty image; `.ci/image-smoke.sh` runs it on the CI machine
# (Debian 12, as the build image) and runs scalerd inside the result as user 65532.
#
#   sh deploy/image-rootfs.sh BINARY ROOTFS
set -eu
binary=$1 rootfs=$2
mkdir -p "$rootfs" && chmod 0755 "$rootfs"
install -D -m 0755 "$binary" "$rootfs/usr/local/bin/scalerd"
ldd "$rootfs/usr/local/bin/scalerd" | grep -o '/[^ ]*' | sort -u | while read -r lib; do
  cp --parents -L "$lib" "$rootfs/"
done
mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/share" "$rootfs/tmp"
cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
cp -r /usr/share/zoneinfo "$rootfs/usr/share/zoneinfo"
echo 'scalerd:x:65532:65532:scalerd:/nonexistent:/sbin/nologin' >"$rootfs/etc/passwd"
echo 'scalerd:x:65532:' >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
