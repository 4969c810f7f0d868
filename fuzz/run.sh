#!/usr/bin/env bash
# Fuzz campaigns with cargo fuzz (libFuzzer, address sanitizer), outside CI.
#
#   bash fuzz/run.sh [--seconds N] [target...]
#
# Runs each target (default: all four) for N seconds (default 300), one after the other,
# starting from the corpus kept in fuzz/corpus/<target> (created on the first run, not
# committed) plus the seeds in fuzz/seeds/<target> (and the shipped example configs and traces
# for the config and trace targets). Each input gets 5 s (-timeout: a slower one is reported as
# a hang) and 2 GiB (-rss_limit_mb). Prints, per target, the executions, the seconds, the
# corpus size and whether a crash was found; a crash, hang or out-of-memory input is saved
# under fuzz/artifacts/<target>/ and the script exits 1.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). On a stable toolchain,
# RUSTC_BOOTSTRAP=1 (set here) lets it use the nightly flags it needs (-Zsanitizer=address,
# the sanitizer-coverage passes).
set -euo pipefail

ALL_TARGETS=(config_loader formula trace_csv prometheus_response)

usage() {
    echo "usage: bash fuzz/run.sh [--seconds N] [target...]" >&2
    echo "targets: ${ALL_TARGETS[*]}" >&2
}

seconds=300
targets=()
while (($#)); do
    case $1 in
        --seconds)
            [[ $# -ge 2 ]] || { usage; exit 64; }
            seconds=$2
            shift 2
            ;;
        --seconds=*)
            seconds=${1#--seconds=}
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        -*)
            echo "unknown option $1" >&2
            usage
            exit 64
            ;;
        *)
            targets+=("$1")
            shift
            ;;
    esac
done
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "--seconds: expected a positive whole number, got \"$seconds\"" >&2
    exit 64
fi
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
for target in "${targets[@]}"; do
    if [[ " ${ALL_TARGETS[*]} " != *" $target "* ]]; then
        echo "unknown target \"$target\"; known targets: ${ALL_TARGETS[*]}" >&2
        exit 64
    fi
done
if ! cargo fuzz --version > /dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 1
fi

cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1

# Build every target once, then run the binaries themselves: `cargo fuzz run` would check (and
# rebuild, if a source changed meanwhile) before each target.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo fuzz build --sanitizer address --target "$host"
bin_dir=fuzz/target/$host/release

failed=()
summary=()
for target in "${targets[@]}"; do
    corpus=fuzz/corpus/$target
    artifacts=fuzz/artifacts/$target
    log=$artifacts/last-run.log
    mkdir -p "$corpus" "$artifacts"
    # libFuzzer writes new inputs to the first directory only; the others are read.
    dirs=("$corpus" "fuzz/seeds/$target")
    case $target in
        config_loader) dirs+=(examples/configs) ;;
        trace_csv) dirs+=(examples/traces) ;;
    esac
    before=$(find "$artifacts" -type f ! -name last-run.log | sort)
    echo "== $target: $seconds s (log: $log)"
    status=0
    started=$SECONDS
    "$bin_dir/$target" -artifact_prefix="$artifacts/" -max_total_time="$seconds" -timeout=5 \
        -rss_limit_mb=2048 -print_final_stats=1 "${dirs[@]}" > "$log" 2>&1 || status=$?
    elapsed=$((SECONDS - started))

    # libFuzzer's last words: "Done N runs in S second(s)" after a clean run, and with
    # -print_final_stats=1 "stat::number_of_executed_units: N" in either case.
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    run_seconds=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\2/p' "$log" | tail -n 1)
    if [[ -z $runs ]]; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    fi
    runs=${runs:-unknown}
    run_seconds=${run_seconds:-$elapsed}
    corpus_files=$(find "$corpus" -type f | wc -l)
    corpus_bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
    found=$(comm -13 <(echo "$before") <(find "$artifacts" -type f ! -name last-run.log | sort))

    if ((status != 0)) || [[ -n $found ]]; then
        result="CRASH (exit $status)${found:+: $(echo "$found" | tr '\n' ' ')}"
        failed+=("$target")
        grep -E '^(==[0-9]+==ERROR|thread .* panicked|.*ERROR: libFuzzer)' "$log" | head -n 5 >&2 || true
    else
        result="no crash"
    fi
    line="$target: $runs executions in $run_seconds s, corpus $corpus_files files ($corpus_bytes bytes), $result"
    echo "$line"
    summary+=("$line")
done

echo
echo "== summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(rustc --version))"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
    echo "crashes in: ${failed[*]} (inputs under fuzz/artifacts/<target>/; reproduce with" \
        "RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <input>, shrink with cargo fuzz tmin)" >&2
    exit 1
fi
