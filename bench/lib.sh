# Functions shared by the bench scripts; sourced from the repository's root.

# A loopback port nothing listens on (checked by trying to connect).
free_port() {
  # Below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by default):
  # a port in it can be held at that moment by some client's outgoing connection (then the
  # server cannot bind it, though nothing listens there), and a client connecting to a port
  # nobody listens on can even connect to itself from that same port.
  local p low
  low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  [ "$low" -gt 21000 ] 2>/dev/null || low=32768
  while :; do
    p=$(( 20000 + RANDOM % (low - 20000) ))
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
