#!/usr/bin/env bash
# Sharding benchmark: R `scalerd run --sharding` replicas (default 3) sharing N scaled objects
# (default 30,000) from one config file, each object with a `redis` list trigger on its own
# list (empty: the objects idle at zero), polled every P seconds, against the testkit's fake API
# server as a process (`fake-apiserver`, N Deployments, Leases served) and a real Redis.
#
# Reports, as one JSON line (keys in bench/RESULTS.md):
#   - the time from the start until the start-up reads ended (no `get` for 5 s: the watches
#     are listed), then, per replica over a steady window of D seconds: CPU (cores), RSS
#     (MiB), the shards it holds and the objects it owns (its `scalers_scaled_object_owner`
#     series);
#   - the API requests the Leases cost per second (every verb on `leases`, from the fake
#     server's tally), and all requests per second;
#   - `kill -9` of the last replica: the time until every one of its shards is held again (from
#     the Lease records) and until every one of its objects has ticked again at its new owner
#     (`lastTick` in the survivors' `/status`);
#   - the killed replica started again (same identity): the time until the shards are balanced
#     again (each replica holding floor or ceil of shards / R).
# Not a test: it reports.
#
#   bash bench/shard.sh [--objects N] [--replicas R] [--shards S] [--polling P] [--duration D]
#                       [--lease-timings "15 10 2"] [--scalerd PATH] [--fake-apiserver PATH]
#                       [--qps Q] [--burst B]   (each replica's --kube-api-qps/-burst)
#
# Needs: curl, awk, python3, redis-server, redis-cli, a built scalerd and fake-apiserver
# (default: target/release/, built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

N=30000 R=3 S=32 P=5 D=30 TIMINGS="15 10 2" SCALERD="" FAKE="" QPS=0 BURST=30
while [ $# -gt 0 ]; do
  case $1 in
    --objects) N=$2; shift 2 ;;
    --replicas) R=$2; shift 2 ;;
    --shards) S=$2; shift 2 ;;
    --polling) P=$2; shift 2 ;;
    --duration) D=$2; shift 2 ;;
    --lease-timings) TIMINGS=$2; shift 2 ;;
    --scalerd) SCALERD=$2; shift 2 ;;
    --fake-apiserver) FAKE=$2; shift 2 ;;
    --qps) QPS=$2; shift 2 ;;
    --burst) BURST=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ "$R" -ge 2 ] || { echo "--replicas: at least 2 (one is killed)" >&2; exit 2; }
# shellcheck source=bench/lib.sh
source bench/lib.sh
SCALERD=$(scalerd_binary "$SCALERD")
if [ -z "$FAKE" ]; then
  [ -x target/release/fake-apiserver ] ||
    cargo build -q --release -p scalers-testkit --bin fake-apiserver >&2
  FAKE=target/release/fake-apiserver
fi

RUN=$(mktemp -d /tmp/scalers-shard-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${BENCH_KEEP:-}" ] && echo "kept $RUN" >&2 || rm -rf "$RUN"
}
trap cleanup EXIT

proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# ---- Redis, the fake API server, the config ----------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$RUN" \
  --daemonize no >"$RUN/redis.log" 2>&1 &
PIDS+=($!)
until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done

"$FAKE" --deployments "$N" --namespace default --prefix w --kubeconfig "$RUN/kubeconfig" \
  >"$RUN/fake.out" 2>"$RUN/fake.log" &
FAKE_PID=$!
PIDS+=($FAKE_PID)
until grep -q '^api=' "$RUN/fake.out" 2>/dev/null; do
  kill -0 $FAKE_PID 2>/dev/null || { cat "$RUN/fake.log" >&2; exit 1; }
  sleep 0.05
done
FAKE_API=$(sed -n 's/^api=\([^ ]*\).*/\1/p' "$RUN/fake.out")
FAKE_ADMIN=$(sed -n 's/.* admin=//p' "$RUN/fake.out")

{
  echo "scaledObjects:"
  for ((i = 0; i < N; i++)); do
    printf '  - {name: o%d, scaleTargetRef: {name: w%d}, pollingInterval: %d, maxReplicaCount: 50, triggers: [{type: redis, metadata: {address: "127.0.0.1:%d", listName: "bench:%d", listLength: "5"}}]}\n' \
      "$i" "$i" "$P" "$REDIS_PORT" "$i"
  done
} >"$RUN/scalerd.yaml"

# ---- the replicas --------------------------------------------------------------------------------
declare -a PID ADMIN ID
start_replica() { # $1: index
  local i=$1
  ID[$i]="bench-$i"
  ADMIN[$i]=$(free_port)
  # shellcheck disable=SC2086
  RUST_LOG=warn "$SCALERD" run --config "$RUN/scalerd.yaml" --admin-addr "127.0.0.1:${ADMIN[$i]}" \
    --config-watch-interval 0 --kubeconfig "$RUN/kubeconfig" --sharding --shards "$S" \
    --lease-namespace default --identity "${ID[$i]}" --lease-timings $TIMINGS \
    --kube-api-qps "$QPS" --kube-api-burst "$BURST" \
    >"$RUN/scalerd-$i.log" 2>&1 &
  PID[$i]=$!
  PIDS+=(${PID[$i]})
}
started_ms=$(now_ms)
for ((i = 0; i < R; i++)); do start_replica $i; done

# The holder of each shard Lease, one line per shard ("-" when free), from the API server.
holders() {
  curl -s --retry 3 "$FAKE_API/apis/coordination.k8s.io/v1/namespaces/default/leases" | python3 -c '
import json, sys
shards = int(sys.argv[1])
held = {}
try:
    items = json.load(sys.stdin).get("items", [])
except ValueError:
    sys.exit(1)  # no answer (the API server busy): the caller tries again
for l in items:
    name = l["metadata"]["name"]
    if name.startswith("scalerd-shard-"):
        held[int(name.rsplit("-", 1)[1])] = (l.get("spec") or {}).get("holderIdentity") or "-"
for i in range(shards):
    print(held.get(i, "-"))' "$S"
}
balanced() { # true when every shard is held and each of the given identities holds its share
  holders | python3 -c '
import sys
ids, shards = sys.argv[2:], int(sys.argv[1])
h = [l.strip() for l in sys.stdin]
low = shards // len(ids)
ok = all(x in ids for x in h) and all(low <= h.count(i) <= low + 1 for i in ids)
sys.exit(0 if ok else 1)' "$S" "$@"
}
wait_until() { # $1: timeout seconds, then a command
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@"; do
    [ "$(date +%s)" -lt $deadline ] || return 1
    sleep 0.1
  done
}
ids_of() { local out=(); for i in "$@"; do out+=("${ID[$i]}"); done; echo "${out[@]}"; }

all=($(seq 0 $((R - 1))))
wait_until 300 balanced $(ids_of "${all[@]}") || { echo "the replicas did not balance the shards" >&2; holders >&2; exit 1; }
samples() { # samples taken so far by replica $1, from /metrics
  curl -s "http://127.0.0.1:${ADMIN[$1]}/metrics" |
    awk '/^scalers_trigger_sample_duration_seconds_count/ {s += $NF} END {printf "%d\n", s}'
}
# Every object ticked at least once somewhere, then measure a steady window.
wait_until 300 bash -c "t=0; for a in ${ADMIN[*]}; do t=\$(( t + \$(curl -s http://127.0.0.1:\$a/metrics | awk '/^scalers_trigger_sample_duration_seconds_count/ {s += \$NF} END {printf \"%d\", s}') )); done; [ \$t -ge $N ]" ||
  { echo "the objects did not all tick" >&2; exit 1; }
# Steady state: the start-up reads are over (replica counts come from the watches once they are
# listed; until then reads go to `/scale`). Wait until no `get` is sent for 5 s, at most 300 s.
gets() { curl -s "$FAKE_ADMIN/tally" | python3 -c '
import json, sys
print(sum(v for k, v in json.load(sys.stdin).items() if k.startswith("get ")))'; }
quiet_since=$(now_ms) last_gets=$(gets) settle_deadline=$(( $(now_ms) + 300000 ))
while [ $(( $(now_ms) - quiet_since )) -lt 5000 ] && [ "$(now_ms)" -lt "$settle_deadline" ]; do
  sleep 1
  g=$(gets)
  [ "$g" = "$last_gets" ] || { last_gets=$g; quiet_since=$(now_ms); }
done
settled_ms=$(( $(now_ms) - started_ms ))
sleep "$P"

lease_requests() { curl -s "$FAKE_ADMIN/tally" | python3 -c '
import json, sys
t = json.load(sys.stdin)
print(sum(v for k, v in t.items() if k.endswith(" leases")), sum(t.values()))'; }
read -r l0 a0 < <(lease_requests)
declare -a C0
for i in "${all[@]}"; do C0[$i]=$(proc_cpu_ticks ${PID[$i]}); done
t0=$(now_ms)
sleep "$D"
t1=$(now_ms)
read -r l1 a1 < <(lease_requests)
hz=$(getconf CLK_TCK)
elapsed_ms=$(( t1 - t0 ))
replicas_json=""
for i in "${all[@]}"; do
  c1=$(proc_cpu_ticks ${PID[$i]})
  cores=$(awk -v c=$(( c1 - C0[$i] )) -v hz="$hz" -v ms=$elapsed_ms 'BEGIN {printf "%.3f", c / hz / (ms / 1000)}')
  rss=$(awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/${PID[$i]}/status")
  held=$(holders | grep -cx "${ID[$i]}" || true)
  owned=$(curl -s "http://127.0.0.1:${ADMIN[$i]}/metrics" | grep -c '^scalers_scaled_object_owner{' || true)
  replicas_json+="${replicas_json:+, }{\"identity\": \"${ID[$i]}\", \"cpu_cores\": $cores, \"rss_mib\": $rss, \"shards\": $held, \"objects\": $owned}"
done
lease_per_s=$(awk -v n=$(( l1 - l0 )) -v ms=$elapsed_ms 'BEGIN {printf "%.1f", n * 1000 / ms}')
api_per_s=$(awk -v n=$(( a1 - a0 )) -v ms=$elapsed_ms 'BEGIN {printf "%.1f", n * 1000 / ms}')

# ---- kill -9 of the last replica -----------------------------------------------------------------
v=$((R - 1))
victim=${ID[$v]}
until holders >"$RUN/before-kill"; do sleep 0.2; done
survivors=($(seq 0 $((R - 2))))
kill -9 ${PID[$v]}
killed=$(now_ms)
# Owned again: no shard names the victim any more.
taken_over() { # every shard listed, none held by the victim
  local h
  h=$(holders) || return 1
  [ "$(printf '%s\n' "$h" | grep -c .)" -eq "$S" ] && ! printf '%s\n' "$h" | grep -qx "$victim"
}
wait_until 120 taken_over ||
  { echo "the killed replica's shards were not taken over" >&2; exit 1; }
owned_again_ms=$(( $(now_ms) - killed ))
# Ticking again: every object of the victim's shards has a lastTick after the kill at a survivor.
survivor_admins=""
for i in "${survivors[@]}"; do survivor_admins+=" http://127.0.0.1:${ADMIN[$i]}"; done
python3 - "$killed" "$RUN/before-kill" "$victim" $survivor_admins <<'EOF' >"$RUN/ticked"
import json, sys, time, urllib.request
killed, before, victim, admins = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
shards = [l.strip() for l in open(before)]
orphan_shards = {i for i, h in enumerate(shards) if h == victim}
deadline = time.time() + 180
while time.time() < deadline:
    ticked, total = set(), 0
    for a in admins:
        s = json.load(urllib.request.urlopen(a + "/status", timeout=30))
        mine = [o for o in s["objects"] if o.get("shard") in orphan_shards]
        total = len(mine)
        for o in mine:
            if o.get("state") == "running" and (o.get("lastTick") or 0) >= killed:
                ticked.add(o["scaledObject"])
    if total and len(ticked) >= total:
        print(int(time.time() * 1000) - killed, total, len(orphan_shards))
        sys.exit(0)
    time.sleep(0.2)
sys.exit(1)
EOF
read -r ticked_again_ms orphans orphan_shards <"$RUN/ticked"

# ---- the killed replica starts again --------------------------------------------------------------
start_replica $v
restarted=$(now_ms)
wait_until 300 balanced $(ids_of "${all[@]}") || { echo "the shards did not balance again" >&2; holders >&2; exit 1; }
rebalanced_ms=$(( $(now_ms) - restarted ))

printf '{"objects": %d, "replicas": %d, "shards": %d, "polling_s": %d, "lease_timings": "%s", "qps": %s, "startup_reads_ended_s": %.1f, "window_s": %.1f, "per_replica": [%s], "lease_requests_per_s": %s, "api_requests_per_s": %s, "killed": {"shards": %d, "objects": %d, "owned_again_ms": %d, "ticked_again_ms": %d}, "restart_rebalanced_ms": %d}\n' \
  "$N" "$R" "$S" "$P" "$TIMINGS" "$QPS" "$(awk -v ms=$settled_ms 'BEGIN {printf "%.1f", ms / 1000}')" \
  "$(awk -v ms=$elapsed_ms 'BEGIN {printf "%.1f", ms / 1000}')" \
  "$replicas_json" "$lease_per_s" "$api_per_s" "$orphan_shards" "$orphans" "$owned_again_ms" \
  "$ticked_again_ms" "$rebalanced_ms"
