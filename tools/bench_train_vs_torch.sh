#!/usr/bin/env bash
# Training throughput beside PyTorch in one run (issue 11 item 5): PyTorch
# (tools/bench_torch.py, one thread, eager modes), staticnet's
# `cargo bench --bench train` with default flags, the same with
# `-C target-cpu=native`, alternately for ROUNDS rounds, with the CPU and
# the load average before each part. Not run in CI (~10 minutes a round).
#
#   PYTHON=/tmp/venv-train/bin/python ROUNDS=2 tools/bench_train_vs_torch.sh
#
# Environment: PYTHON (default python3), ROUNDS (2), FILTER (criterion
# filter, default the `step` rows), CARGO_TARGET_DIR (native builds go to
# its `native/` subdirectory), BENCH_ARGS (extra criterion arguments,
# default a 1 s warm-up and 4 s of measurement per row).
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
py=${PYTHON:-python3}
rounds=${ROUNDS:-2}
filter=${FILTER:-'/step'}
target=${CARGO_TARGET_DIR:-target}
args=${BENCH_ARGS:---warm-up-time 1 --measurement-time 4}

lscpu | sed -n 's/^Model name: *//p; s/^CPU family: *\(.*\)/family \1/p; s/^Model: *\(.*\)/model \1/p' | paste -sd' '
rustc --version
echo "building (default, native) ..."
CARGO_TARGET_DIR=$target cargo bench -q --bench train --no-run 2>/dev/null
RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=$target/native \
    cargo bench -q --bench train --no-run 2>/dev/null
for r in $(seq 1 "$rounds"); do
    echo "== round $r: PyTorch $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$py" tools/bench_torch.py --no-compile 2>&1 | sed -n '/^Training/,/^best W2/p'
    echo "== round $r: staticnet default $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    CARGO_TARGET_DIR=$target cargo bench -q --bench train -- "$filter" $args 2>/dev/null |
        grep -E '^train/|thrpt' || true
    echo "== round $r: staticnet native $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
    RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=$target/native \
        cargo bench -q --bench train -- "$filter" $args 2>/dev/null |
        grep -E '^train/|thrpt' || true
done
echo "== end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
