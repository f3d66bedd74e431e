#!/usr/bin/env bash
# Executed x86-64 instructions per iteration of the benches' workloads,
# counted by valgrind (cachegrind, no cache simulation) for two commits:
# a before/after comparison that does not depend on the machine's load
# (criterion times on a shared 2-core KVM guest moved by up to ±40%).
# Default flags only: valgrind 3.19 cannot run AVX-512 code.
#
#   tools/insn_ab.sh <before-commit> [<after-commit, default HEAD>]
#
# Each commit is checked out into a temporary worktree, this script's
# tools/insn_ab/workloads.rs is copied into its examples/, and the
# example is built in release. Per iteration = (I(n2) − I(n1)) / (n2 − n1).
# Not run in CI (minutes under valgrind).
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
before=$1
after=${2:-HEAD}
work=${INSN_AB_DIR:-/tmp/insn_ab}
mkdir -p "$work"
workloads="cnn_forward lstm_forward lstm_step gru_step cnn_forward_backward lstm_forward_backward cnn_train_step lstm_train_step cnn_train_step_layers lstm_train_step_layers gru_train_step_layers"

build() { # <commit> <label>
    local dir="$work/$2"
    rm -rf "$dir"
    git -C "$repo" worktree remove --force "$dir" 2>/dev/null || true
    git -C "$repo" worktree add -q --detach "$dir" "$1"
    cp "$repo/tools/insn_ab/workloads.rs" "$dir/examples/insn_workloads.rs"
    (cd "$dir" && CARGO_TARGET_DIR="$work/target-$2" cargo build -q --release --example insn_workloads)
    cp "$work/target-$2/release/examples/insn_workloads" "$work/bin-$2"
    git -C "$repo" worktree remove --force "$dir"
}

count() { # <binary> <workload> <n>
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$1" "$2" "$3" 2>&1 | sed -n 's/.*I *refs: *//p' | tr -d ','
}

build "$before" before
build "$after" after
printf '| workload | before (insn/iter) | after (insn/iter) | after ÷ before |\n|---|---|---|---|\n'
for w in $workloads; do
    case $w in
        *train_step | *train_step_layers) n1=4; n2=36 ;;
        *forward_backward) n1=20; n2=220 ;;
        *) n1=100; n2=1100 ;;
    esac
    row="| $w"
    declare -A per
    for side in before after; do
        a=$(count "$work/bin-$side" "$w" $n1)
        b=$(count "$work/bin-$side" "$w" $n2)
        per[$side]=$(( (b - a) / (n2 - n1) ))
        row="$row | ${per[$side]}"
    done
    ratio=$(awk -v a="${per[after]}" -v b="${per[before]}" 'BEGIN { printf "%.3f", a / b }')
    echo "$row | $ratio |"
done
