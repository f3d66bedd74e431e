#!/usr/bin/env bash
# BENCHMARKS.md's "MLPerf Tiny models" table in one run (not run in CI):
#
#   1. the release build time of a crate holding each model (one crate per
#      model: tests/mlperf/<model>.rs included, its f32 forward called from
#      main, so the model's code is generated and compiled; the crate's own
#      compile after its dependencies are built, wall time, and rustc's peak
#      memory),
#   2. benches/mlperf.rs with default flags,
#   3. onnxruntime, single-threaded (tools/bench_mlperf_ort.py; it also
#      counts parameters and MACs from the layer shapes),
#   4. benches/mlperf.rs with RUSTFLAGS="-C target-cpu=native",
#
# recording the load average beside every phase, then prints the table
# (latencies: criterion's median for staticnet, the median of timed batches
# for onnxruntime, both thread CPU time; ratios staticnet / onnxruntime).
#
#   tools/bench_mlperf.sh
#
# Measured on the shared 2-core machine: 172 s with warm target dirs at
# load 13; 858 s from cold at load 6-12 (640 s of it the native build of
# the bench and all dev-dependencies). Rerun on a quiet machine for the
# figures; a second run is incremental.
#
# Environment: CARGO_TARGET_DIR (default target/; the native build uses
# $CARGO_TARGET_DIR-native, the build-time crates $CARGO_TARGET_DIR-mlperf-crates),
# ORT_PY (a python with onnxruntime, onnx, numpy, safetensors; default
# /tmp/venv-ort/bin/python: python3 -m venv /tmp/venv-ort &&
# /tmp/venv-ort/bin/pip install onnxruntime onnx numpy safetensors),
# OUT (where results go; default a new /tmp/bench_mlperf.XXXX).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
T=${CARGO_TARGET_DIR:-$ROOT/target}
ORT_PY=${ORT_PY:-/tmp/venv-ort/bin/python}
OUT=${OUT:-$(mktemp -d /tmp/bench_mlperf.XXXX)}
MODELS=(kws vww ic ad sww)
mkdir -p "$OUT"
load() { cut -d' ' -f1-3 /proc/loadavg; }
say() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
"$ORT_PY" -c 'import onnxruntime, onnx, safetensors' || {
    echo "ORT_PY=$ORT_PY lacks onnxruntime/onnx/safetensors (see the header)" >&2
    exit 1
}
START=$(date +%s)
echo "start $(date -u '+%Y-%m-%d %H:%M:%S UTC') load $(load) commit $(git -C "$ROOT" rev-parse --short HEAD)" >"$OUT/run.txt"

# 1. Release build time of a crate holding each model.
CR="$OUT/crates"
declare -A TYPE=([kws]=KwsDsCnn [vww]=MobileNetVww [ic]=ResNet8 [ad]=AnomalyAutoencoder [sww]=StreamingWakeWord)
mkdir -p "$CR"
{
    echo '[workspace]'
    echo 'resolver = "2"'
    printf 'members = [%s]\n' "$(printf '"%s",' "${MODELS[@]}" | sed 's/,$//')"
} >"$CR/Cargo.toml"
for m in "${MODELS[@]}"; do
    mkdir -p "$CR/$m/src"
    cat >"$CR/$m/Cargo.toml" <<EOF
[package]
name = "mlperf-$m"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
staticnet = { path = "$ROOT" }
EOF
    cat >"$CR/$m/src/main.rs" <<EOF
//! ${TYPE[$m]} with its weights from a file: one forward on zeros.
use staticnet::{model, Model, Tensor, Weights};
include!("$ROOT/tests/mlperf/$m.rs");
type M = ${TYPE[$m]}<f32>;
fn main() {
    let path = std::env::args().nth(1).expect("weights file");
    let bytes = std::fs::read(path).expect("read");
    let net = M::boxed_from_safetensors_with(&bytes, Default::default()).expect("weights");
    let x = <M as Model<f32>>::Input::from_flat(&vec![0.0; <M as Model<f32>>::Input::LEN]).expect("input");
    // The forward keeps layer outputs on the stack: a large one.
    let y = std::thread::Builder::new().stack_size(256 << 20)
        .spawn(move || net.forward(&x).as_flat().to_vec()).expect("spawn").join().expect("forward");
    println!("{y:?}");
}
EOF
done
CT="$T-mlperf-crates"
say "build-time crates: dependencies"
(cd "$CR" && CARGO_TARGET_DIR="$CT" cargo build --release -q -p "mlperf-${MODELS[0]}" 2>"$OUT/crates-deps.log")
for m in "${MODELS[@]}"; do
    touch "$CR/$m/src/main.rs"
    l=$(load)
    say "build-time crates: $m (load $l)"
    s=$(date +%s.%N)
    (cd "$CR" && CARGO_TARGET_DIR="$CT" /usr/bin/time -f "%M" -o "$OUT/build-$m.rss" \
        cargo build --release -q -p "mlperf-$m" 2>"$OUT/build-$m.log")
    e=$(date +%s.%N)
    # the crate runs: its output on zeros is printed, its weights load
    "$CT/release/mlperf-$m" "$ROOT/tests/fixtures/mlperf/$m.safetensors" >/dev/null
    echo "$m $(awk "BEGIN { printf \"%.1f\", $e - $s }") $l" >>"$OUT/build.txt"
done

# 2.-4. Latency: default flags, onnxruntime, native.
bench() { # name, target dir, rustflags
    say "bench $1: build"
    local s e
    s=$(date +%s)
    CARGO_TARGET_DIR="$2" RUSTFLAGS="$3" cargo bench --manifest-path "$ROOT/Cargo.toml" \
        --bench mlperf --no-run -q 2>"$OUT/bench-$1-build.log"
    e=$(date +%s)
    echo "bench-build $1 $((e - s)) s" >>"$OUT/run.txt"
    say "bench $1: run (load $(load))"
    echo "bench $1 load-before $(load)" >>"$OUT/run.txt"
    CRITERION_HOME="$OUT/criterion-$1" CARGO_TARGET_DIR="$2" RUSTFLAGS="$3" \
        cargo bench --manifest-path "$ROOT/Cargo.toml" --bench mlperf -q -- --noplot \
        >"$OUT/bench-$1.log" 2>&1
    echo "bench $1 load-after $(load)" >>"$OUT/run.txt"
}
bench default "$T" ""
say "onnxruntime (load $(load))"
echo "ort load-before $(load)" >>"$OUT/run.txt"
"$ORT_PY" "$ROOT/tools/bench_mlperf_ort.py" --json "$OUT/ort.json" "${MODELS[@]}" >"$OUT/ort.log"
echo "ort load-after $(load)" >>"$OUT/run.txt"
bench native "$T-native" "-C target-cpu=native"
echo "end $(date -u '+%H:%M:%S UTC') load $(load) total $(($(date +%s) - START)) s" >>"$OUT/run.txt"

# The table.
python3 - "$OUT" "${MODELS[@]}" <<'EOF'
import json, sys
from pathlib import Path
out, models = Path(sys.argv[1]), sys.argv[2:]
ort = json.loads((out / "ort.json").read_text())
build = {l.split()[0]: l.split()[1:] for l in (out / "build.txt").read_text().splitlines()}
def crit(flavor, m):
    e = json.loads((out / f"criterion-{flavor}" / m / "new" / "estimates.json").read_text())
    return e["median"]["point_estimate"] / 1e3  # ns -> µs
print((out / "run.txt").read_text())
print(f"onnxruntime {ort['onnxruntime']}, intra_op_num_threads=1; latencies median, thread CPU time, f32, batch 1\n")
print("| model | parameters (+ BN statistics) | MACs | staticnet default | staticnet native | onnxruntime | default / ort | native / ort | crate release build (rustc peak RSS) | load during build |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for m in models:
    o = ort[m]
    d, n = crit("default", m), crit("native", m)
    secs, *ld = build[m]
    rss = int((out / f"build-{m}.rss").read_text().split()[-1]) / 1024
    print(f"| {m} | {o['params']:,} (+ {o['buffers']:,}) | {o['macs'] / 1e6:.2f} M | {d:.1f} µs | {n:.1f} µs "
          f"| {o['ort_cpu_us']:.1f} µs | {d / o['ort_cpu_us']:.2f} | {n / o['ort_cpu_us']:.2f} "
          f"| {float(secs):.1f} s ({rss:.0f} MB) | {' '.join(ld)} |")
print("\nonnxruntime: wall time (µs) " + ", ".join(f"{m} {ort[m]['ort_wall_us']:.1f}" for m in models)
      + "; per-call overhead of the Python binding (Identity graph, inside the figures) "
      + ", ".join(f"{m} {ort[m]['ort_call_overhead_us']:.1f}" for m in models))
EOF
echo "results in $OUT" >&2
