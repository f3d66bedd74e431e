#!/usr/bin/env bash
# Same-machine anchors (issue 15, item 1; not run in CI): RTNeural's
# compile-time LSTM/GRU (tools/peers/rtneural_bench.cpp, built from
# ../shared/third_party/RTNeural with Debian's libeigen3-dev) beside
# staticnet's benches/step.rs, each built the same way — default flags
# against default, `-march=native` / `-C target-cpu=native` against
# native — run alternately in one run, and one table of ratios
# (staticnet ÷ RTNeural; below 1 is faster). Thread CPU time, medians.
#
#   tools/bench_peers.sh [rounds, default 2]
#
# Needs: g++, libeigen3-dev. Takes about 5 minutes per round. Run it on
# a quiet machine (`uptime`): the figures are printed with the load.
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
rtn=${RTNEURAL_DIR:-$repo/../shared/third_party/RTNeural}
work=${BENCH_PEERS_DIR:-/tmp/bench_peers}
rounds=${1:-2}
mkdir -p "$work"
cxx() { g++ -std=c++17 -O3 -DNDEBUG -DRTNEURAL_USE_EIGEN=1 -DEIGEN_STACK_ALLOCATION_LIMIT=0 \
    -I "$rtn" -I "$rtn/modules/json" -I /usr/include/eigen3 "$@"; }
cxx -DRTNEURAL_DEFAULT_ALIGNMENT=16 "$repo/tools/peers/rtneural_bench.cpp" -o "$work/rtneural-default"
cxx -march=native -DRTNEURAL_DEFAULT_ALIGNMENT=32 "$repo/tools/peers/rtneural_bench.cpp" -o "$work/rtneural-native"

# staticnet's step bench, default and native, in their own target dirs.
bench_bin() { # <label> <rustflags>
    local dir="$work/target-$1"
    # BENCH_PEERS_NO_BUILD=1 times the binaries already built there.
    [ -n "${BENCH_PEERS_NO_BUILD:-}" ] ||
        (cd "$repo" && RUSTFLAGS="$2" CARGO_TARGET_DIR="$dir" cargo bench --bench step --no-run -q 2>/dev/null)
    ls -t "$dir"/release/deps/step-* | grep -v '\.d$' | head -1
}
sn_default=$(bench_bin default "")
sn_native=$(bench_bin native "-C target-cpu=native")

# criterion's median of one benchmark, in ns.
median_ns() { # <bin> <filter>
    "$1" --bench --warm-up-time 1 --measurement-time 3 --noplot "^$2\$" 2>/dev/null |
        awk '/time:/ { s = $0; sub(/.*\[/, "", s); sub(/\].*/, "", s); split(s, t, " ");
            v = t[3]; u = t[4];
            f = (u == "ns") ? 1 : (u == "µs" || u == "us") ? 1e3 : (u == "ms") ? 1e6 : 1;
            printf "%.1f\n", v * f; exit }'
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
fam=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
model=$(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
echo "CPU: $cpu (family $fam, model $model); $(date -u '+%Y-%m-%d %H:%M UTC'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| round | build | workload | staticnet ns | RTNeural ns | staticnet ÷ RTNeural |"
echo "|---|---|---|---:|---:|---:|"
for r in $(seq 1 "$rounds"); do
    for build in default native; do
        if [ "$build" = default ]; then sn=$sn_default; rb=$work/rtneural-default; else sn=$sn_native; rb=$work/rtneural-native; fi
        out=$("$rb")
        for w in "lstm_step lstm_step/staticnet_step lstm_step_ns" \
                 "lstm_sequence lstm_sequence/staticnet_forward lstm_sequence_ns" \
                 "gru_step gru_step/staticnet_step gru_step_ns"; do
            set -- $w
            s=$(median_ns "$sn" "$2")
            p=$(echo "$out" | awk -v k="$3" '$1 == k { print $2 }')
            ratio=$(awk -v a="$s" -v b="$p" 'BEGIN { printf "%.2f", a / b }')
            echo "| $r | $build | $1 | $s | $p | $ratio |"
        done
    done
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
