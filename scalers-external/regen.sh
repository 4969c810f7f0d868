#!/usr/bin/env bash
# Regenerates src/generated/externalscaler.rs from proto/externalscaler.proto.
#
# The generated code is committed, so building scalers-external needs neither protoc nor a code
# generator; only this script does. It needs `protoc` (Debian: apt-get install
# protobuf-compiler) and cargo, and builds a throwaway generator in a temp dir with
# tonic-prost-build pinned to the tonic version the crate uses.
#
# Usage: scalers-external/regen.sh        (from anywhere)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tonic_version="=0.14.9"

if ! command -v protoc >/dev/null; then
  echo "regen.sh: protoc not found; install it (Debian: apt-get install protobuf-compiler)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src" "$here/src/generated"

cat >"$work/Cargo.toml" <<TOML
[package]
name = "scalers-external-regen"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
tonic-prost-build = { version = "$tonic_version", default-features = false }

[workspace]
TOML

cat >"$work/src/main.rs" <<'RUST'
fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (proto_dir, out_dir) = (args.next().unwrap(), args.next().unwrap());
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // No `connect(uri)` helpers: channels are built by the crate (shared, lazy, own TLS).
        .build_transport(false)
        .emit_rerun_if_changed(false)
        .out_dir(out_dir)
        .compile_protos(
            &[format!("{proto_dir}/externalscaler.proto")],
            &[proto_dir],
        )
}
RUST

CARGO_TARGET_DIR="$work/target" cargo run --quiet --manifest-path "$work/Cargo.toml" -- \
  "$here/proto" "$here/src/generated"
# rustfmt finds the workspace's rustfmt.toml from the file's directory.
rustfmt --edition 2024 "$here/src/generated/externalscaler.rs"
echo "regen.sh: wrote $here/src/generated/externalscaler.rs"
