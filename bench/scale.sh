#!/usr/bin/env bash
# End-to-end scale benchmark: `scalerd run --dry-run` with N scaled objects polling every second,
# each with one trigger on its own data, against a real source on loopback:
#   --source redis (default): one `redis` list trigger per object on its own list;
#   --source prometheus: one `prometheus` trigger per object, all on one Prometheus, the same
#     query shape with a distinct label per object (`bench_queue{object="oN"}`), to show what
#     scalerd costs a shared Prometheus (the query rate it served, its latency, its CPU).
#   --target memory (default): `--dry-run` without a cluster, the workloads in memory;
#   --target kube: the workloads are Deployments in the testkit's fake API server (the binary
#     `fake-apiserver`, serving lists and watches), written for real through `/scale`, with
#     leader election on and the client-side rate limit `--qps`/`--burst`; adds the API
#     requests per second by verb at steady state (watches and the Lease apart), the API calls
#     per object-minute, and a spike: every source raised at once, timed until the last of the
#     N Deployments has been written, each from 1 to 2 replicas (redis source only), with
#     every request the spike sent by verb and resource (watches and the Lease apart).
# Prints one JSON line of figures (keys in bench/RESULTS.md). Not a test: it reports.
#
#   bash bench/scale.sh [--source redis|prometheus] [--target memory|kube] [--objects N]
#                       [--duration SECONDS] [--reactions K] [--scalerd PATH]
#                       [--fake-apiserver PATH] [--qps Q] [--burst B]
#
# Needs: curl, awk, a built scalerd (default: target/release/scalerd, built if missing), and
# for redis: redis-server, redis-cli, redis-benchmark (Debian redis-server, redis-tools);
# for prometheus: prometheus (Debian) and python3 (serves the series Prometheus scrapes).
set -euo pipefail
cd "$(dirname "$0")/.."

N=10000 D=60 K=20 SCALERD="" SOURCE=redis TARGET=memory FAKE="" QPS=50 BURST=100
while [ $# -gt 0 ]; do
  case $1 in
    --source) SOURCE=$2; shift 2 ;;
    --objects) N=$2; shift 2 ;;
    --duration) D=$2; shift 2 ;;
    --reactions) K=$2; shift 2 ;;
    --scalerd) SCALERD=$2; shift 2 ;;
    --target) TARGET=$2; shift 2 ;;
    --fake-apiserver) FAKE=$2; shift 2 ;;
    --qps) QPS=$2; shift 2 ;;
    --burst) BURST=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
case $SOURCE in
  redis | prometheus) ;;
  *) echo "--source: expected redis or prometheus, got $SOURCE" >&2; exit 2 ;;
esac
case $TARGET in
  memory) ;;
  kube) [ "$SOURCE" = redis ] || { echo "--target kube: only with --source redis" >&2; exit 2; } ;;
  *) echo "--target: expected memory or kube, got $TARGET" >&2; exit 2 ;;
esac
# shellcheck source=bench/lib.sh
source bench/lib.sh
SCALERD=$(scalerd_binary "$SCALERD")

RUN=$(mktemp -d /tmp/scalers-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # SCALERS_BENCH_KEEP=1 keeps the run's files (logs, config) for a look afterwards.
  if [ -n "${SCALERS_BENCH_KEEP:-}" ]; then echo "kept $RUN" >&2; else rm -rf "$RUN"; fi
}
trap cleanup EXIT

proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# ---- the source ---------------------------------------------------------------------------------
if [ "$SOURCE" = redis ]; then
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$RUN" \
    --daemonize no >"$RUN/redis.log" 2>&1 &
  PIDS+=($!)
  until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do
    kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "redis-server on port $REDIS_PORT exited:" >&2; cat "$RUN/redis.log" >&2; exit 1; }
    sleep 0.05
  done
  R="redis-cli -p $REDIS_PORT"
  # every list empty: objects start at zero replicas and inactive
  trigger() { printf '{type: redis, metadata: {address: "127.0.0.1:%d", listName: "bench:%d", listLength: "5"}}' "$REDIS_PORT" "$1"; }
  if [ "$TARGET" = kube ]; then
    # Every list at 5 items: every Deployment at 1 replica, active; a raise to 10 items wants 2,
    # so that a spike changes each object exactly once (from 0, KEDA's activation to 1 and the
    # HPA's step to 2 would be two writes).
    BUSY=2
    for ((i = 0; i < N; i++)); do printf 'RPUSH bench:%d a b c d e\n' "$i"; done | $R --pipe >/dev/null
    raise() { $R rpush "bench:$1" f g h i j >/dev/null; }
    lower() { $R ltrim "bench:$1" 0 4 >/dev/null; }
  else
    BUSY=1
    raise() { $R rpush "bench:$1" a b c d e f g h i j >/dev/null; }
    lower() { $R del "bench:$1" >/dev/null; }
  fi
else
  # The series Prometheus scrapes every second: one line per object in a file served over
  # HTTP, every value 0 (objects start at zero replicas and inactive); `raise` rewrites the
  # file atomically with one object at 10.
  mkdir -p "$RUN/www"
  series() { # [object-at-10]
    awk -v n="$N" -v o="${1:--1}" 'BEGIN {
      print "# TYPE bench_queue gauge"
      for (i = 0; i < n; i++) printf "bench_queue{object=\"o%d\"} %d\n", i, (i == o ? 10 : 0)
    }' >"$RUN/www/metrics.tmp"
    mv "$RUN/www/metrics.tmp" "$RUN/www/metrics"
  }
  series
  WWW_PORT=$(free_port)
  python3 -m http.server "$WWW_PORT" --bind 127.0.0.1 --directory "$RUN/www" >"$RUN/www.log" 2>&1 &
  WWW_PID=$!
  PIDS+=($WWW_PID)
  # serving before Prometheus starts (and before its port is drawn, so the two cannot collide)
  deadline=$(( $(date +%s) + 30 ))
  until curl -sf "http://127.0.0.1:$WWW_PORT/metrics" >/dev/null; do
    kill -0 $WWW_PID 2>/dev/null || { cat "$RUN/www.log" >&2; exit 1; }
    [ "$(date +%s)" -lt $deadline ] || { echo "the series server did not start" >&2; exit 1; }
    sleep 0.1
  done
  PROM_PORT=$(free_port)
  cat >"$RUN/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: bench
    static_configs: [{targets: ["127.0.0.1:$WWW_PORT"]}]
YAML
  prometheus --config.file="$RUN/prometheus.yml" --storage.tsdb.path="$RUN/prom" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$RUN/prometheus.log" 2>&1 &
  PROM_PID=$!
  PIDS+=($PROM_PID)
  PROM="http://127.0.0.1:$PROM_PORT"
  deadline=$(( $(date +%s) + 60 ))
  until curl -sf "$PROM/api/v1/query" --data-urlencode "query=bench_queue{object=\"o$((N - 1))\"}" |
    grep -q '"value"'; do
    kill -0 $PROM_PID 2>/dev/null || { cat "$RUN/prometheus.log" >&2; exit 1; }
    if [ "$(date +%s)" -ge $deadline ]; then
      echo "prometheus has not scraped the series; its targets and log:" >&2
      curl -s "$PROM/api/v1/targets" >&2 || true
      tail -n 20 "$RUN/prometheus.log" "$RUN/www.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  trigger() { printf '{type: prometheus, metadata: {serverAddress: "%s", query: "bench_queue{object=\\"o%d\\"}", threshold: "5"}}' "$PROM" "$1"; }
  raise() { series "$1"; }
  lower() { series; }
  # what Prometheus served on /api/v1/query: requests, and seconds spent on them
  prom_served() {
    curl -s "$PROM/metrics" | awk '
      /^prometheus_http_requests_total\{.*handler="\/api\/v1\/query"/ {n += $NF}
      /^prometheus_http_request_duration_seconds_sum\{.*handler="\/api\/v1\/query"/ {s += $NF}
      END {printf "%d %f\n", n, s}'
  }
fi

# ---- scalerd --------------------------------------------------------------------------------------
{
  echo "scaledObjects:"
  for ((i = 0; i < N; i++)); do
    printf '  - {name: o%d, scaleTargetRef: {name: w%d}, pollingInterval: 1, cooldownPeriod: 1, maxReplicaCount: 50, triggers: [%s]}\n' \
      "$i" "$i" "$(trigger "$i")"
  done
} >"$RUN/scalerd.yaml"

ADMIN_PORT=$(free_port)
if [ "$TARGET" = kube ]; then
  if [ -z "$FAKE" ]; then
    [ -x target/release/fake-apiserver ] ||
      cargo build -q --release -p scalers-testkit --bin fake-apiserver >&2
    FAKE=target/release/fake-apiserver
  fi
  "$FAKE" --deployments "$N" --replicas 1 --namespace default --prefix w --kubeconfig "$RUN/kubeconfig" \
    >"$RUN/fake.out" 2>"$RUN/fake.log" &
  FAKE_PID=$!
  PIDS+=($FAKE_PID)
  until grep -q '^api=' "$RUN/fake.out" 2>/dev/null; do
    kill -0 $FAKE_PID 2>/dev/null || { cat "$RUN/fake.log" >&2; exit 1; }
    sleep 0.05
  done
  FAKE_ADMIN=$(sed -n 's/.* admin=//p' "$RUN/fake.out")
  RUST_LOG=warn "$SCALERD" run --config "$RUN/scalerd.yaml" --admin-addr "127.0.0.1:$ADMIN_PORT" \
    --config-watch-interval 0 --kubeconfig "$RUN/kubeconfig" --leader-elect --lease-namespace default \
    --identity bench --kube-api-qps "$QPS" --kube-api-burst "$BURST" >"$RUN/scalerd.log" 2>&1 &
else
  RUST_LOG=warn "$SCALERD" run --dry-run --config "$RUN/scalerd.yaml" --admin-addr "127.0.0.1:$ADMIN_PORT" \
    --config-watch-interval 0 >"$RUN/scalerd.log" 2>&1 &
fi
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
rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$SCALERD_PID/status"; }
desired() { # desiredReplicas of object $1 from /status
  curl -s "http://127.0.0.1:$ADMIN_PORT/status?scaledObject=default/o$1" |
    sed -n 's/.*"desiredReplicas":\([0-9]*\).*/\1/p'
}

# the fake API server's request counts by "verb resource", one per line
api_tally() { curl -s "$FAKE_ADMIN/tally" | tr -d '{}' | tr ',' '\n' | tr -d '"' | tr ':' ' '; }
if [ "$TARGET" = kube ]; then
  # Leading, and every object ticked once (its first read, before the watch is listed, is a GET).
  deadline=$(( $(date +%s) + 120 ))
  until [ "$(samples)" -ge "$N" ]; do
    kill -0 $SCALERD_PID 2>/dev/null || { cat "$RUN/scalerd.log" >&2; exit 1; }
    [ "$(date +%s)" -lt $deadline ] || { echo "scalerd did not start ticking" >&2; tail "$RUN/scalerd.log" >&2; exit 1; }
    sleep 0.2
  done
fi
# Let the first ticks settle, then measure over D seconds.
sleep 2
s0=$(samples) c0=$(proc_cpu_ticks $SCALERD_PID) t0=$(now_ms)
if [ "$TARGET" = kube ]; then api_tally >"$RUN/tally0"; fi
if [ "$SOURCE" = prometheus ]; then
  read -r q0 qs0 < <(prom_served)
  pc0=$(proc_cpu_ticks $PROM_PID)
fi
# Reaction latency: K times, at random moments, raise a random object's data above its
# activation threshold, and time until its decision shows (then lower it again).
reactions=()
end_at=$(( t0 + D * 1000 ))
for ((k = 0; k < K; k++)); do
  remaining=$(( end_at - $(now_ms) ))
  [ $remaining -gt 4000 ] || break
  sleep "0.$(( RANDOM % 900 + 100 ))"
  o=$(( RANDOM * 32768 % N + RANDOM % N )); o=$(( o % N ))
  pushed=$(now_ms)
  raise $o
  until [ "$(desired $o)" != "" ] && [ "$(desired $o)" -ge "${BUSY:-1}" ]; do
    [ $(( $(now_ms) - pushed )) -lt 10000 ] || break
    sleep 0.01
  done
  reactions+=($(( $(now_ms) - pushed )))
  lower $o
done
while [ "$(now_ms)" -lt $end_at ]; do sleep 0.2; done
s1=$(samples) c1=$(proc_cpu_ticks $SCALERD_PID) t1=$(now_ms)
if [ "$TARGET" = kube ]; then api_tally >"$RUN/tally1"; fi
if [ "$SOURCE" = prometheus ]; then
  read -r q1 qs1 < <(prom_served)
  pc1=$(proc_cpu_ticks $PROM_PID)
fi

metrics=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics")
[ -n "${SCALERS_BENCH_KEEP:-}" ] && echo "$metrics" >"$RUN/metrics.txt"
quantile() { # q of the histogram $1 (cumulative buckets) in /metrics, in ms (bucket upper bound)
  echo "$metrics" | awk -v q="$2" -v h="$1" '
    index($0, h "_bucket") == 1 {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      n++; les[n] = le; counts[n] = $NF
    }
    index($0, h "_count") == 1 { total = $NF }
    END {
      for (i = 1; i <= n; i++) if (counts[i] >= q * total) { if (les[i] == "+Inf") print "null"; else printf "%.1f\n", les[i] * 1000; exit }
      print "null"
    }'
}
percentile() { # p of the given numbers
  local p=$1; shift
  printf '%s\n' "$@" | sort -n | awk -v p="$p" 'NF {a[++n] = $1} END { if (n == 0) { print "null"; exit } i = int(p * n + 0.999999); if (i < 1) i = 1; print a[i] }'
}

hz=$(getconf CLK_TCK)
elapsed_ms=$(( t1 - t0 ))
per_s() { awk -v n="$1" -v ms=$elapsed_ms 'BEGIN {printf "%.1f", n * 1000 / ms}'; }
cores() { awk -v c="$1" -v hz="$hz" -v ms=$elapsed_ms 'BEGIN {printf "%.3f", c / hz / (ms / 1000)}'; }
samples_per_s=$(per_s $(( s1 - s0 )))
cpu_cores=$(cores $(( c1 - c0 )))
rss_peak=$(awk -v k="$(rss_kib VmHWM)" 'BEGIN {printf "%.1f", k / 1024}')
rss_end=$(awk -v k="$(rss_kib VmRSS)" 'BEGIN {printf "%.1f", k / 1024}')
p50=$(quantile scalers_loop_lateness_seconds 0.5) p99=$(quantile scalers_loop_lateness_seconds 0.99)
r50=$(percentile 0.5 "${reactions[@]}") r99=$(percentile 0.99 "${reactions[@]}")
common=$(printf '"objects":%d,"poll_s":1,"duration_s":%d,"samples_per_s":%s,"expected_samples_per_s":%d,"tick_lateness_p50_ms":%s,"tick_lateness_p99_ms":%s,"rss_peak_mib":%s,"rss_end_mib":%s,"cpu_cores":%s' \
  "$N" "$D" "$samples_per_s" "$N" "$p50" "$p99" "$rss_peak" "$rss_end" "$cpu_cores")

if [ "$TARGET" = kube ]; then
  # Steady state: requests per second by verb, watches and the leader Lease apart (the K
  # reactions wrote K objects up and down: those writes are in it).
  delta() { awk 'NR == FNR {b[$1 " " $2] = $3; next} {print $1, $2, $3 - b[$1 " " $2]}' "$RUN/tally0" "$RUN/tally1"; }
  api_by_verb=$(delta | awk -v ms=$elapsed_ms '$1 != "watch" && $2 != "leases" {v[$1] += $3}
    END {printf "{"; sep = ""; for (k in v) {printf "%s\"%s\":%.2f", sep, k, v[k] * 1000 / ms; sep = ","}; printf "}"}')
  api_total=$(delta | awk -v ms=$elapsed_ms '$1 != "watch" && $2 != "leases" {t += $3} END {printf "%.2f", t * 1000 / ms}')
  lease_per_s=$(delta | awk -v ms=$elapsed_ms '$2 == "leases" {t += $3} END {printf "%.2f", t * 1000 / ms}')
  per_object_minute=$(delta | awk -v o="$N" -v ms=$elapsed_ms '{t += $3} END {printf "%.4f", t / o / (ms / 60000)}')
  # The spike: every list at 10 items (2 replicas each); timed until no Deployment is left at 1.
  at_zero() { curl -s "$FAKE_ADMIN/replicas?namespace=default" | sed -n 's/.*"1":\([0-9]*\).*/\1/p'; }
  scale_patches() { api_tally | awk '$1 == "patch" && $2 == "deployments/scale" {n = $3} END {print n + 0}'; }
  patches0=$(scale_patches)
  api_tally >"$RUN/tally2"
  spike_at=$(now_ms)
  for ((i = 0; i < N; i++)); do printf 'RPUSH bench:%d f g h i j\n' "$i"; done | $R --pipe >/dev/null
  bound_ms=$(awk -v n="$N" -v q="$QPS" 'BEGIN {printf "%d", (q > 0 ? n / q : 0) * 1000 + 2000}')
  spike_deadline=$(( spike_at + 3 * bound_ms + 30000 ))
  left=$(at_zero)
  while [ -n "$left" ] && [ "$left" != 0 ] && [ "$(now_ms)" -lt $spike_deadline ]; do
    sleep 0.05
    left=$(at_zero)
  done
  spike_ms=$(( $(now_ms) - spike_at ))
  api_tally >"$RUN/tally3"
  # Every request the spike sent but watches and Lease calls, by verb and resource: what took
  # tokens of the rate limit while the /scale patches waited.
  spike_requests=$(awk 'NR == FNR {b[$1 " " $2] = $3; next}
    $1 != "watch" && $2 != "leases" && $3 - b[$1 " " $2] > 0 {printf "%s\"%s %s\":%d", sep, $1, $2, $3 - b[$1 " " $2]; sep = ","}
    BEGIN {printf "{"} END {printf "}"}' "$RUN/tally2" "$RUN/tally3")
  patches=$(( $(scale_patches) - patches0 ))
  kill $SCALERD_PID 2>/dev/null || true
  printf '{"source":"redis","target":"kube",%s,"kube_api_qps":%s,"kube_api_burst":%s,"api_requests_per_s":%s,"api_requests_per_s_total":%s,"lease_requests_per_s":%s,"api_calls_per_object_minute":%s,"reaction_p50_ms":%s,"reaction_p99_ms":%s,"spike_objects":%d,"spike_all_written_ms":%d,"spike_bound_ms":%d,"spike_left_unwritten":%d,"spike_scale_patches":%d,"spike_requests":%s}\n' \
    "$common" "$QPS" "$BURST" "$api_by_verb" "$api_total" "$lease_per_s" "$per_object_minute" "$r50" "$r99" \
    "$N" "$spike_ms" "$bound_ms" "${left:-0}" "$patches" "$spike_requests"
elif [ "$SOURCE" = redis ]; then
  connections=$($R client list | grep -vc 'cmd=client' || true)
  kill $SCALERD_PID 2>/dev/null || true
  # the physical reference on the same server: LLEN, 1 connection unpipelined, and pipelining 16
  bench_rps() {
    redis-benchmark -p "$REDIS_PORT" -q -n "$1" -c 1 "${@:2}" llen bench:0 2>/dev/null |
      tr '\r' '\n' | awk '/requests per second/ {for (i = 1; i <= NF; i++) if ($(i+1) == "requests") v = $i} END {printf "%d", v}'
  }
  c1_rps=$(bench_rps 20000)
  p16_rps=$(bench_rps 200000 -P 16)
  printf '{"source":"redis",%s,"redis_connections":%d,"reaction_p50_ms":%s,"reaction_p99_ms":%s,"redis_llen_c1_per_s":%s,"redis_llen_p16_per_s":%s}\n' \
    "$common" "$connections" "$r50" "$r99" "${c1_rps:-0}" "${p16_rps:-0}"
else
  connections=$(awk -v port="$(printf '%04X' "$PROM_PORT")" '$3 ~ ":" port "$" && $4 == "01" {n++} END {print n + 0}' /proc/net/tcp)
  served_per_s=$(per_s $(( q1 - q0 )))
  served_mean_ms=$(awk -v n=$(( q1 - q0 )) -v s0="$qs0" -v s1="$qs1" 'BEGIN {if (n > 0) printf "%.2f", (s1 - s0) * 1000 / n; else print "null"}')
  prom_cores=$(cores $(( pc1 - pc0 )))
  q50=$(quantile scalers_trigger_sample_duration_seconds 0.5) q99=$(quantile scalers_trigger_sample_duration_seconds 0.99)
  printf '{"source":"prometheus",%s,"prometheus_connections":%d,"reaction_p50_ms":%s,"reaction_p99_ms":%s,"prometheus_queries_per_s":%s,"prometheus_query_mean_ms":%s,"query_latency_p50_ms":%s,"query_latency_p99_ms":%s,"prometheus_cpu_cores":%s}\n' \
    "$common" "$connections" "$r50" "$r99" "$served_per_s" "$served_mean_ms" "$q50" "$q99" "$prom_cores"
fi
