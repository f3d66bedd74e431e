#!/usr/bin/env bash
# Same-machine anchors (issue 15, item 1; not run in CI): RTNeural's
# compile-time LSTM/GRU (tools/peers/rtneural_bench.cpp, built from
# ../shared/third_party/RTNeural with Debian's libeigen3-dev) beside
# staticnet's benches/step.rs and benches/forward.rs (W1), each built the
# same way — default flags against default, `-march=native` /
# `-C target-cpu=native` against native — and onnxruntime and PyTorch
# (tools/peers/ort_torch_bench.py, one thread, their pip wheels: one
# build, shown in both rows), run alternately in one run, and one table of
# ratios (staticnet ÷ peer; below 1 is faster). CPU time, medians.
# RTNeural has no 2-D max pooling, so W1 is against onnxruntime and
# PyTorch only.
#
#   tools/bench_peers.sh [rounds, default 2]
#
# Needs: g++, libeigen3-dev; ORT_PY (default /tmp/venv-ort/bin/python:
# onnxruntime, onnx, numpy) and TORCH_PY (default
# /tmp/venv-train/bin/python: torch, numpy). Takes about 6 minutes per
# round. Run it on a quiet machine (`uptime`): the figures are printed
# with the load.
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

ort_py=${ORT_PY:-/tmp/venv-ort/bin/python}
torch_py=${TORCH_PY:-/tmp/venv-train/bin/python}

# staticnet's step and forward benches, default and native, in their own
# target dirs.
bench_bin() { # <label> <rustflags> <bench>
    local dir="$work/target-$1"
    # BENCH_PEERS_NO_BUILD=1 times the binaries already built there.
    [ -n "${BENCH_PEERS_NO_BUILD:-}" ] ||
        (cd "$repo" && RUSTFLAGS="$2" CARGO_TARGET_DIR="$dir" cargo bench --bench "$3" --no-run -q 2>/dev/null)
    ls -t "$dir"/release/deps/"$3"-* | grep -v '\.d$' | head -1
}
sn_default=$(bench_bin default "" step)
sn_native=$(bench_bin native "-C target-cpu=native" step)
fw_default=$(bench_bin default "" forward)
fw_native=$(bench_bin native "-C target-cpu=native" forward)

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
echo "| round | build | workload | staticnet ns | RTNeural ns | onnxruntime ns | PyTorch ns | ÷ RTNeural | ÷ onnxruntime | ÷ PyTorch |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == "" || b == "-") print "-"; else printf "%.2f", a / b }'; }
for r in $(seq 1 "$rounds"); do
    ort=$("$ort_py" "$repo/tools/peers/ort_torch_bench.py" ort)
    torch=$("$torch_py" "$repo/tools/peers/ort_torch_bench.py" torch)
    for build in default native; do
        if [ "$build" = default ]; then sn=$sn_default; fw=$fw_default; rb=$work/rtneural-default
        else sn=$sn_native; fw=$fw_native; rb=$work/rtneural-native; fi
        out=$("$rb")
        for w in "lstm_step $sn lstm_step/staticnet_step lstm_step_ns" \
                 "lstm_sequence $sn lstm_sequence/staticnet_forward lstm_sequence_ns" \
                 "gru_step $sn gru_step/staticnet_step gru_step_ns" \
                 "w1_forward $fw w1_cnn/staticnet w1_forward_ns"; do
            set -- $w
            s=$(median_ns "$2" "$3")
            p=$(echo "$out" | awk -v k="$4" '$1 == k { print $2 }')
            o=$(echo "$ort" | awk -v k="$4" '$1 == k { print $2 }')
            t=$(echo "$torch" | awk -v k="$4" '$1 == k { print $2 }')
            echo "| $r | $build | $1 | $s | ${p:--} | $o | $t | $(ratio "$s" "${p:--}") | $(ratio "$s" "$o") | $(ratio "$s" "$t") |"
        done
    done
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
