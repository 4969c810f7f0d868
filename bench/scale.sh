#!/usr/bin/env bash
# End-to-end scale benchmark: scalerd run --dry-run with N scaled objects, each with one `redis`
# list trigger on its own list, polling every second, against a real redis-server on loopback.
# Prints one JSON line of figures (see README / issue 8 for the keys). Not a test: it reports.
#
#   bash bench/scale.sh [--objects N] [--duration SECONDS] [--reactions K] [--scalerd PATH]
#
# Needs: redis-server, redis-cli, redis-benchmark (Debian redis-server/redis-tools), curl, awk,
# and a built scalerd (default: target/release/scalerd, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

N=10000 D=60 K=20 SCALERD=""
while [ $# -gt 0 ]; do
  case $1 in
    --objects) N=$2; shift 2 ;;
    --duration) D=$2; shift 2 ;;
    --reactions) K=$2; shift 2 ;;
    --scalerd) SCALERD=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$SCALERD" ]; then
  SCALERD=target/release/scalerd
  [ -x "$SCALERD" ] || cargo build -q --release -p scalerd
fi

RUN=$(mktemp -d /tmp/scalers-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT

free_port() { # a port nothing listens on (checked by trying to connect)
  local p
  while :; do
    p=$(( 20000 + RANDOM % 20000 ))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
  done
}
now_ms() { date +%s%3N; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$RUN" \
  --daemonize no >"$RUN/redis.log" 2>&1 &
PIDS+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
R="redis-cli -p $REDIS_PORT"

# N lists, all empty: objects start at zero replicas and inactive.
{
  echo "scaledObjects:"
  for ((i = 0; i < N; i++)); do
    printf '  - {name: o%d, scaleTargetRef: {name: w%d}, pollingInterval: 1, cooldownPeriod: 1, maxReplicaCount: 50, triggers: [{type: redis, metadata: {address: "127.0.0.1:%d", listName: "bench:%d", listLength: "5"}}]}\n' \
      "$i" "$i" "$REDIS_PORT" "$i"
  done
} >"$RUN/scalerd.yaml"

ADMIN_PORT=$(free_port)
RUST_LOG=warn "$SCALERD" run --dry-run --config "$RUN/scalerd.yaml" --admin-addr "127.0.0.1:$ADMIN_PORT" \
  --config-watch-interval 0 >"$RUN/scalerd.log" 2>&1 &
SCALERD_PID=$!
PIDS+=($SCALERD_PID)
deadline=$(( $(date +%s) + 120 ))
until curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null; do
  kill -0 $SCALERD_PID 2>/dev/null || { cat "$RUN/scalerd.log" >&2; exit 1; }
  [ "$(date +%s)" -lt $deadline ] || { echo "scalerd not ready" >&2; exit 1; }
  sleep 0.1
done

samples() { # total samples taken so far, from /metrics
  curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk '/^scalers_trigger_sample_duration_seconds_count/ {s += $NF} END {printf "%d\n", s}'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SCALERD_PID/stat"; }
rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$SCALERD_PID/status"; }
desired() { # desiredReplicas of object $1 from /status
  curl -s "http://127.0.0.1:$ADMIN_PORT/status?scaledObject=default/o$1" |
    sed -n 's/.*"desiredReplicas":\([0-9]*\).*/\1/p'
}

# Let the first ticks settle, then measure over D seconds.
sleep 2
s0=$(samples) c0=$(cpu_ticks) t0=$(now_ms)
# Reaction latency: K times, at random moments, push enough items onto a random object's list to
# cross its activation threshold, and time until its decision shows (then empty it again).
reactions=()
end_at=$(( t0 + D * 1000 ))
for ((k = 0; k < K; k++)); do
  remaining=$(( end_at - $(now_ms) ))
  [ $remaining -gt 3000 ] || break
  sleep "0.$(( RANDOM % 900 + 100 ))"
  o=$(( RANDOM * 32768 % N + RANDOM % N )); o=$(( o % N ))
  pushed=$(now_ms)
  $R rpush "bench:$o" a b c d e f g h i j >/dev/null
  until [ "$(desired $o)" != "" ] && [ "$(desired $o)" -ge 1 ]; do
    [ $(( $(now_ms) - pushed )) -lt 10000 ] || break
    sleep 0.01
  done
  reactions+=($(( $(now_ms) - pushed )))
  $R del "bench:$o" >/dev/null
done
while [ "$(now_ms)" -lt $end_at ]; do sleep 0.2; done
s1=$(samples) c1=$(cpu_ticks) t1=$(now_ms)

metrics=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics")
quantile() { # q from the cumulative lateness histogram, in ms (bucket upper bound)
  echo "$metrics" | awk -v q="$1" '
    /^scalers_loop_lateness_seconds_bucket/ {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      n++; les[n] = le; counts[n] = $NF
    }
    /^scalers_loop_lateness_seconds_count/ { total = $NF }
    END {
      for (i = 1; i <= n; i++) if (counts[i] >= q * total) { if (les[i] == "+Inf") print "null"; else printf "%.1f\n", les[i] * 1000; exit }
      print "null"
    }'
}
percentile() { # p of the given numbers
  local p=$1; shift
  printf '%s\n' "$@" | sort -n | awk -v p="$p" '{a[NR] = $1} END { if (NR == 0) { print "null"; exit } i = int(p * NR + 0.999999); if (i < 1) i = 1; print a[i] }'
}

hz=$(getconf CLK_TCK)
elapsed_ms=$(( t1 - t0 ))
samples_per_s=$(awk -v s=$(( s1 - s0 )) -v ms=$elapsed_ms 'BEGIN {printf "%.1f", s * 1000 / ms}')
cpu_cores=$(awk -v c=$(( c1 - c0 )) -v hz="$hz" -v ms=$elapsed_ms 'BEGIN {printf "%.3f", c / hz / (ms / 1000)}')
rss_peak=$(awk -v k="$(rss_kib VmHWM)" 'BEGIN {printf "%.1f", k / 1024}')
rss_end=$(awk -v k="$(rss_kib VmRSS)" 'BEGIN {printf "%.1f", k / 1024}')
connections=$($R client list | grep -vc 'cmd=client' || true)
p50=$(quantile 0.5) p99=$(quantile 0.99)
r50=$(percentile 0.5 "${reactions[@]}") r99=$(percentile 0.99 "${reactions[@]}")

kill $SCALERD_PID 2>/dev/null || true
# the physical reference on the same server: LLEN, 1 connection unpipelined, and pipelining 16
bench_rps() {
  redis-benchmark -p "$REDIS_PORT" -q -n "$1" -c 1 "${@:2}" llen bench:0 2>/dev/null |
    tr '\r' '\n' | awk '/requests per second/ {for (i = 1; i <= NF; i++) if ($(i+1) == "requests") v = $i} END {printf "%d", v}'
}
c1_rps=$(bench_rps 20000)
p16_rps=$(bench_rps 200000 -P 16)

printf '{"objects":%d,"poll_s":1,"duration_s":%d,"samples_per_s":%s,"expected_samples_per_s":%d,"tick_lateness_p50_ms":%s,"tick_lateness_p99_ms":%s,"rss_peak_mib":%s,"rss_end_mib":%s,"cpu_cores":%s,"redis_connections":%d,"reaction_p50_ms":%s,"reaction_p99_ms":%s,"redis_llen_c1_per_s":%s,"redis_llen_p16_per_s":%s}\n' \
  "$N" "$D" "$samples_per_s" "$N" "$p50" "$p99" "$rss_peak" "$rss_end" "$cpu_cores" "$connections" "$r50" "$r99" "${c1_rps:-0}" "${p16_rps:-0}"
