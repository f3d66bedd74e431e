#!/usr/bin/env bash
# predict over 256 W1 samples on 1 and 2 threads (benches/predict.rs)
# beside onnxruntime on the same network and batch, intra-op threads 1 and
# 2 (tools/bench_predict_ort.py), in one run, with the load beside each
# phase. Not run in CI. Wall time: run it on a quiet machine.
#
#   tools/bench_predict.sh
#
# Environment: ORT_PY (default /tmp/venv-ort/bin/python, with onnxruntime,
# onnx and numpy).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ORT_PY=${ORT_PY:-/tmp/venv-ort/bin/python}
cd "$ROOT"
grep -m1 'model name' /proc/cpuinfo
cargo bench --bench predict --no-run -q
for round in 1 2; do
    echo "round $round, load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$ORT_PY" tools/bench_predict_ort.py
    cargo bench --bench predict 2>&1 | grep -E '^w[12]_predict|^w[12]:|thrpt' | grep -v '%'
done
