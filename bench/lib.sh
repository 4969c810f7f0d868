# Functions shared by the bench scripts; sourced from the repository's root.

# A loopback port nothing listens on (checked by trying to connect).
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 20000 ))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}

# Wall-clock milliseconds.
now_ms() { date +%s%3N; }

# The scalerd binary to run: $1 if given, else the release build (built if missing).
scalerd_binary() {
  if [ -n "${1:-}" ]; then
    echo "$1"
    return
  fi
  [ -x target/release/scalerd ] || cargo build -q --release -p scalerd >&2
  echo target/release/scalerd
}
