#!/usr/bin/env bash
# Soak (outside CI): kill -9 and restart redis-server CYCLES times under a running
# `scalerd run --dry-run` with N redis triggers, and check that sampling recovers each time and
# that scalerd's connections to Redis are re-established, not leaked.
#
#   bash bench/soak-redis.sh [--cycles 100] [--objects 50] [--scalerd PATH]
#
# Prints one line per 10 cycles and a final JSON line:
# {"cycles":..,"objects":..,"recovery_p50_ms":..,"recovery_max_ms":..,"connections_min":..,"connections_max":..}
set -euo pipefail
cd "$(dirname "$0")/.."
CYCLES=100 N=50 SCALERD=""
while [ $# -gt 0 ]; do
  case $1 in
    --cycles) CYCLES=$2; shift 2 ;;
    --objects) N=$2; shift 2 ;;
    --scalerd) SCALERD=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=bench/lib.sh
source bench/lib.sh
SCALERD=$(scalerd_binary "$SCALERD")
RUN=$(mktemp -d /tmp/scalers-soak.XXXXXX)
REDIS_PID="" SCALERD_PID=""
cleanup() {
  [ -n "$SCALERD_PID" ] && kill "$SCALERD_PID" 2>/dev/null || true
  [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT
PORT=$(free_port) ADMIN=$(free_port)
start_redis() {
  redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$RUN" \
    --daemonize no >>"$RUN/redis.log" 2>&1 &
  REDIS_PID=$!
  until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.02; done
}
start_redis
{
  echo "scaledObjects:"
  for ((i = 0; i < N; i++)); do
    printf '  - {name: o%d, scaleTargetRef: {name: w%d}, pollingInterval: 1, triggers: [{type: redis, metadata: {address: "127.0.0.1:%d", listName: "soak:%d", listLength: "5"}}]}\n' \
      "$i" "$i" "$PORT" "$i"
  done
} >"$RUN/scalerd.yaml"
RUST_LOG=error "$SCALERD" run --dry-run --config "$RUN/scalerd.yaml" --admin-addr "127.0.0.1:$ADMIN" \
  --config-watch-interval 0 >"$RUN/scalerd.log" 2>&1 &
SCALERD_PID=$!
until curl -sf "http://127.0.0.1:$ADMIN/readyz" >/dev/null; do sleep 0.1; done

value_of_o0() { # the last sampled value of o0's trigger, empty when it failed
  curl -s "http://127.0.0.1:$ADMIN/status?scaledObject=default/o0" |
    sed -n 's/.*"triggers":\[{[^]]*"value":\([0-9.]*\).*/\1/p'
}
connections() { redis-cli -p "$PORT" client list | grep -vc 'cmd=client' || true; }

recoveries=() conns=()
for ((c = 1; c <= CYCLES; c++)); do
  kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
  start_redis
  want=$(( c % 7 + 1 ))
  for ((k = 0; k < want; k++)); do redis-cli -p "$PORT" rpush soak:0 x >/dev/null; done
  t0=$(now_ms)
  until [ "$(value_of_o0)" = "$want" ] || [ "$(value_of_o0)" = "$want.0" ]; do
    [ $(( $(now_ms) - t0 )) -lt 30000 ] || { echo "cycle $c: no recovery in 30 s" >&2; exit 1; }
    sleep 0.05
  done
  recoveries+=($(( $(now_ms) - t0 )))
  conns+=("$(connections)")
  [ $(( c % 10 )) -eq 0 ] && echo "cycle $c: recovered in ${recoveries[-1]} ms, connections ${conns[-1]}" >&2
done
kill -0 "$SCALERD_PID" || { echo "scalerd died" >&2; exit 1; }
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%d %d %d", a[int((NR+1)/2)], a[1], a[NR]}'; }
read -r r50 _ rmax <<<"$(stats "${recoveries[@]}")"
read -r _ cmin cmax <<<"$(stats "${conns[@]}")"
printf '{"cycles":%d,"objects":%d,"recovery_p50_ms":%d,"recovery_max_ms":%d,"connections_min":%d,"connections_max":%d}\n' \
  "$CYCLES" "$N" "$r50" "$rmax" "$cmin" "$cmax"
