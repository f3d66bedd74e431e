#!/usr/bin/env bash
# Firmware check (issue 5), called by .ci/run:
#   1. builds examples/firmware as a release static library (no_std,
#      panic = "abort", weights compiled in);
#   2. links c/main.c against it with the system C compiler and runs it on
#      the PyTorch fixtures (outputs within 1e-5, streaming = whole sequence,
#      status codes, on-device training lowers the loss, stack bounds);
#   3. fails if the library references an allocator, std or a panic runtime;
#   4. prints the code / read-only data / RAM each part of the API costs
#      (the BENCHMARKS.md "Firmware" table) and the statics' sizes.
# Environment: CARGO_TARGET_DIR (default examples/firmware/target), CC (cc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"
cc="${CC:-cc}"
lib="$CARGO_TARGET_DIR/release/libstaticnet_firmware.a"
out="$CARGO_TARGET_DIR/firmware-c"
mkdir -p "$out"

# nm from binutils warns about the LLVM bitcode some archive members carry
# ("bfd plugin: ... failed to create LTO module"); it reads their symbols
# all the same; and it reports members with no symbols. Drop those lines only.
nm_() { nm "$@" 2> >(grep -v -e 'bfd plugin' -e ': no symbols$' >&2); }

echo "== build (release, no_std, panic = abort)"
cargo build --release --locked --manifest-path "$here/Cargo.toml"

echo "== link and run the C test program"
# The library needs nothing from the C side but memcpy and memset (checked
# below); -pthread is for the test's stack-painting threads.
"$cc" -std=c11 -O2 -Wall -Wextra -Werror -I"$here/include" \
    "$here/c/main.c" "$lib" -pthread -o "$out/main"
"$out/main" "$root/tests/fixtures/seed_cnn.safetensors" "$root/tests/fixtures/forecaster.safetensors"

echo "== no heap, no std"
# forbidden < symbol list: fails (prints the offenders) if any symbol name
# is an allocator, std, or a panic/unwinding runtime.
forbidden() {
    grep -E '(^|[^A-Za-z0-9_])(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign|__rust_alloc[A-Za-z_]*|__rust_dealloc|__rust_realloc|__rg_[A-Za-z_]*|__rdl_[A-Za-z_]*|__rust_start_panic|__rust_panic_cleanup|rust_eh_personality|_Unwind_[A-Za-z_]*)$|std::|_ZN3std|3std[0-9]' || true
}
# The check itself must be able to fail.
for probe in "U malloc" "U __rust_alloc" "U __rg_alloc" "T _ZN3std2io5stdio6_print17h0E" "U __rust_start_panic"; do
    [ -n "$(echo "$probe" | forbidden)" ] || { echo "self-test: '$probe' not caught"; exit 1; }
done
undefined="$(nm_ -u "$lib" | awk '$1 == "U" { print $2 }' | sort -u)"
defined="$(nm_ --defined-only "$lib" | awk 'NF == 3 { print $3 }' | sort -u)"
all_syms="$(nm_ -C "$lib" | awk 'NF >= 2 { $1 = ""; print }')"
# What the C side must provide: undefined in a member and defined in none.
echo "symbols the library needs from outside:" $(comm -23 <(echo "$undefined") <(echo "$defined"))
bad="$( { echo "$undefined"; echo "$all_syms" | sed 's/^ *[A-Za-z] //'; } | forbidden)"
if [ -n "$bad" ]; then
    echo "FAIL: the library references an allocator, std or a panic runtime:"
    echo "$bad"
    exit 1
fi
echo "ok: no allocator, no std, no panic runtime"

echo "== sizes (x86-64, release; bytes)"
# One program per part of the API, --gc-sections, minus the same program
# calling nothing.
sections() { # file -> "text rodata eh data bss"
    size -A "$1" | awk '
        $1 == ".text" { t += $2 }
        $1 ~ /^\.rodata/ { r += $2 }
        $1 ~ /^\.eh_frame/ || $1 == ".gcc_except_table" { e += $2 }
        $1 ~ /^\.data/ || $1 == ".tdata" { d += $2 }
        $1 == ".bss" || $1 == ".tbss" { b += $2 }
        END { printf "%d %d %d %d %d\n", t, r, e, d, b }'
}
for probe in NONE CNN CNN_TRAIN LSTM LSTM_STREAM ALL; do
    "$cc" -std=c11 -O2 -I"$here/include" -DPROBE_$probe "$here/c/size_probe.c" "$lib" \
        -Wl,--gc-sections -o "$out/probe_$probe"
done
read -r t0 r0 e0 d0 b0 <<<"$(sections "$out/probe_NONE")"
printf '%-12s %8s %8s %8s %8s %8s\n' part .text .rodata .eh_frame .data .bss
for probe in CNN CNN_TRAIN LSTM LSTM_STREAM ALL; do
    read -r t r e d b <<<"$(sections "$out/probe_$probe")"
    printf '%-12s %8d %8d %8d %8d %8d\n' "$probe" $((t - t0)) $((r - r0)) $((e - e0)) $((d - d0)) $((b - b0))
done
echo "statics (nm -S --size-sort; size in hex):"
nm_ -S --size-sort -C "$lib" | grep -E 'staticnet_firmware::(CNN|LSTM|CNN_TRAINING|LSTM_STATE)$'
echo "firmware ci: ok"
