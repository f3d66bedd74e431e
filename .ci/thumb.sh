#!/usr/bin/env bash
# Cortex-M under QEMU (issue 12), called by .ci/run; runs on its own too:
#
#   bash .ci/thumb.sh                       # what CI runs (opt-level 3)
#   THUMB_OPT_LEVELS="3 s z" bash .ci/thumb.sh   # + the opt-level table
#
#  1. installs what it needs with apt-get if it is missing: Debian's
#     rustc-web (1.96) and its source rust-web-src (core is built for the
#     target with -Zbuild-std=core: rustup cannot add targets here, and
#     rustup's own compiler does not match that source), QEMU, binutils,
#     gcc and newlib for arm-none-eabi;
#  2. cross-builds tests/thumb (a bare-metal test binary) and
#     examples/firmware (the C library) for thumbv7em-none-eabihf
#     (Cortex-M4F/M7) and thumbv6m-none-eabi (Cortex-M0/M0+);
#  3. runs the test binary on QEMU's mps2-an386 (M4F), mps2-an500 (M7)
#     and, the v6-M build, mps2-an385: the CNN, the LSTM forecaster (whole
#     sequence, 32 streamed steps) and a training step against the PyTorch
#     fixtures; and once with its self-test switch, which must fail;
#  4. links the firmware's C test program (examples/firmware/c/main.c)
#     with arm-none-eabi-gcc + newlib (semihosting) for the M4F and the M0
#     and runs it on the three boards (PyTorch fixtures, status codes,
#     training, painted stack within its bounds);
#  5. fails if a Thumb library or linked C program has an allocator,
#     panic_bounds_check, rust_begin_unwind or abort (readelf -s: binutils'
#     nm with its LLVM 14 plugin cannot read LLVM 22 bitcode); the check
#     is shown to catch each kind on a binary that has them;
#  5b. disassembles the int8 forward of KWS and IC (tests/thumb/src/int8.rs:
#     the `forward` that `model!` generates with `#[int8]`, weights in a
#     `static` in flash) and what it calls: no VFP instruction, no
#     soft-float call (tools/thumb_float_check.py, shown to flag a function
#     that uses f32 and the generated float edges `quantize_input` /
#     `dequantize_output`), and runs it on the M0, the M4F and the M7:
#     TFLite Micro's outputs and every layer's (issue 13);
#  6. prints the sizes per C entry point (M4F, M0), the painted stack, and
#     the executed instructions per call on each board (tools/qemu-insn, a
#     QEMU TCG plugin) with instructions per multiply-add: the tables of
#     BENCHMARKS.md, "Firmware". Instruction counts are exact and
#     reproducible; QEMU's wall time says nothing about a chip's speed.
#
# Environment: CARGO_TARGET_DIR (default ./target; the Thumb builds go to
# $CARGO_TARGET_DIR/thumb-O<level>), THUMB_OPT_LEVELS (default "3"; the
# symbol checks fail the run for the first level only, and are reported
# for the others).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
opt_levels="${THUMB_OPT_LEVELS:-3}"
first_opt="${opt_levels%% *}"
out="$CARGO_TARGET_DIR/thumb-out"
mkdir -p "$out"
fixtures="$root/tests/fixtures"
start=$SECONDS

say() { printf '\n== %s\n' "$*"; }

# ---- the test crate's formatting and lints (host toolchain) -------------------
# Clippy on the host target (the crate builds there; Debian's rustc-web
# has no clippy). The firmware's cfg(not(target_has_atomic)) lock is
# compiled, but not linted, by the thumbv6m build below.
say "tests/thumb: rustfmt, clippy (host target)"
cargo fmt --manifest-path "$root/tests/thumb/Cargo.toml" -- --check
cargo clippy -q --locked --manifest-path "$root/tests/thumb/Cargo.toml" -- -D warnings

# ---- 1. tools ----------------------------------------------------------------
say "tools"
packages=(qemu-system-arm binutils-arm-none-eabi gcc-arm-none-eabi libnewlib-arm-none-eabi
    rustc-web cargo-web rust-web-src)
have_tools() {
    command -v qemu-system-arm && command -v arm-none-eabi-gcc && command -v arm-none-eabi-size &&
        [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/src/rust/library/core ] &&
        [ -f "$(arm-none-eabi-gcc -print-file-name=rdimon.specs)" ]
} >/dev/null 2>&1
if ! have_tools; then
    echo "installing: ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
    have_tools || { echo "error: the tools are still missing after apt-get" >&2; exit 1; }
fi
# Debian's compiler for every Thumb build; cargo may be rustup's.
export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
"$RUSTC" --version
qemu-system-arm --version | head -1
arm-none-eabi-gcc --version | head -1
cc="${CC:-cc}"

# The instruction counter.
"$cc" -O2 -Wall -Wextra -Werror -shared -fPIC -o "$out/libinsncount.so" \
    "$root/tools/qemu-insn/insncount.c"

# ---- helpers -------------------------------------------------------------------
# qemu BOARD ELF LOG [semihosting args...]: runs ELF on BOARD, counting
# instructions between the markers into LOG; prints the program's output.
qemu() {
    local board=$1 elf=$2 log=$3
    shift 3
    local cpu=() args="" a
    case $board in
    m4f) cpu=(-M mps2-an386 -cpu cortex-m4) ;;
    m7) cpu=(-M mps2-an500 -cpu cortex-m7) ;;
    m0) cpu=(-M mps2-an385) ;; # a Cortex-M3 running v6-M code
    esac
    for a in "$@"; do args+=",arg=$a"; done
    local begin end
    begin=$(readelf -sW "$elf" | awk '$8 == "sn_count_begin" { print "0x" $2 }')
    end=$(readelf -sW "$elf" | awk '$8 == "sn_count_end" { print "0x" $2 }')
    [ -n "$begin" ] && [ -n "$end" ] || { echo "error: no count markers in $elf" >&2; return 1; }
    timeout 600 qemu-system-arm "${cpu[@]}" -nographic \
        -semihosting-config "enable=on,target=native$args" \
        -plugin "$out/libinsncount.so,begin=$begin,end=$end" -d plugin -D "$log" \
        -kernel "$elf"
}

# counts OUTPUT LOG: "name count" per region, minus region 0 (the markers'
# own cost, measured on an empty region).
counts() {
    awk 'NR == FNR { if ($1 == "count") name[$2] = $3; next }
         $1 == "insncount" { c[$2] = $3 }
         END { for (n = 1; n in name; n++) if (n in c) print name[n], c[n] - c[0] }' "$1" "$2"
}

# Symbol names of an ELF file or archive (readelf reads the Rust objects
# that binutils' nm cannot).
symbols() { readelf -sW "$1" | awk '$1 ~ /^[0-9]+:$/ && NF >= 8 { print $8 }' | sort -u; }
# forbidden [c]: symbol names on stdin that are an allocator, a panic path or
# abort; with "c" (a library, not a program linked with newlib) also C's heap.
forbidden() {
    local re='(__rust_(alloc|dealloc|realloc|alloc_zeroed|alloc_error_handler|no_alloc_shim_is_unstable[A-Za-z0-9_]*)|__r[dg]l?_(alloc|dealloc|realloc|alloc_zeroed|oom)|panic_bounds_check|rust_begin_unwind)$|^abort$'
    [ "${1:-}" = c ] && re+='|^(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|memalign)$'
    grep -E "$re" || true
}
# The check must be able to fail: each kind of name is caught, and a binary
# that really has a panic path (the test binary: its panic handler and
# core::fmt) is flagged.
for probe in _RNvNtCs1a_4core9panicking18panic_bounds_check _RNvCs1a_7___rustc17rust_begin_unwind \
    abort _RNvCs1a_7___rustc12___rust_alloc __rust_dealloc __rg_alloc __rdl_realloc; do
    [ -n "$(echo "$probe" | forbidden)" ] || { echo "self-test: '$probe' not caught" >&2; exit 1; }
done
[ -n "$(echo malloc | forbidden c)" ] || { echo "self-test: 'malloc' not caught" >&2; exit 1; }
for probe in sn_cnn_predict memcpy __aeabi_fmul abort_handler; do
    [ -z "$(echo "$probe" | forbidden c)" ] || { echo "self-test: '$probe' caught" >&2; exit 1; }
done

# "text rodata data bss" of an ELF (.text includes .init/.fini; .rodata the
# unwind index).
sections() {
    arm-none-eabi-size -A "$1" | awk '
        $1 == ".text" || $1 == ".init" || $1 == ".fini" { t += $2 }
        $1 ~ /^\.rodata/ || $1 == ".ARM.exidx" { r += $2 }
        $1 ~ /^\.data/ || $1 ~ /_array$/ { d += $2 }
        $1 == ".bss" { b += $2 }
        END { printf "%d %d %d %d\n", t, r, d, b }'
}

declare -A insns  # insns[opt,board,program,call]
declare -A size   # size[opt,target,probe] = "text rodata data bss"
declare -A stack  # stack[board,call]
declare -A mlperf_size  # mlperf_size[opt] = "text rodata data bss" of the MLPerf binary
declare -A int8_code    # int8_code[opt,board,int8_model] = code bytes reachable from its entry
declare -A int8_params  # int8_params[int8_model] = bytes of its parameter struct
c_flags_m4f=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16)
c_flags_m0=(-mcpu=cortex-m0 -mthumb -mfloat-abi=soft)
c_link=(--specs=rdimon.specs -std=c11 -O2 -Wall -Wextra -Werror -I"$root/examples/firmware/include"
    -Wl,--gc-sections -Wl,--section-start=.vectors=0 -Wl,-u,sn_vectors -Wl,--no-warn-execstack)

for opt in $opt_levels; do
    tdir="$CARGO_TARGET_DIR/thumb-O$opt"
    export CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt
    for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
        case $target in
        thumbv7em-none-eabihf) boards=(m4f m7) cflags=("${c_flags_m4f[@]}") ;;
        thumbv6m-none-eabi) boards=(m0) cflags=("${c_flags_m0[@]}") ;;
        esac
        # ---- 2. build ----------------------------------------------------------
        say "build for $target, opt-level $opt"
        t0=$SECONDS
        # Both from tests/thumb, whose .cargo/config.toml has the linker, the
        # link script and the runners: the same flags for both builds, so
        # that they share core and every dependency (same profile too).
        # The MLPerf Tiny binary only for the M7 (float models, FPU).
        bins=(--bin staticnet-thumb-test --bin staticnet-thumb-int8)
        [ "$target" = thumbv7em-none-eabihf ] && bins+=(--bin staticnet-thumb-mlperf)
        (cd "$root/tests/thumb" && CARGO_TARGET_DIR=$tdir cargo build -q --release --locked \
            --target "$target" -Zbuild-std=core "${bins[@]}" &&
            CARGO_TARGET_DIR=$tdir cargo build -q --release --locked --target "$target" \
                -Zbuild-std=core --manifest-path ../../examples/firmware/Cargo.toml)
        echo "built in $((SECONDS - t0)) s"
        test_elf="$tdir/$target/release/staticnet-thumb-test"
        mlperf_elf="$tdir/$target/release/staticnet-thumb-mlperf"
        int8_elf="$tdir/$target/release/staticnet-thumb-int8"
        lib="$tdir/$target/release/libstaticnet_firmware.a"
        tag="$target-O$opt"

        # ---- 4. link the C programs --------------------------------------------
        # The stack bounds in main.c are those of the release build (CI's
        # level); other levels are measured against the 64 KiB painted.
        bounds=()
        if [ "$opt" != "$first_opt" ]; then
            for call in CNN_PREDICT LSTM_PREDICT LSTM_STEP CNN_TRAIN_STEP; do
                bounds+=("-DSN_STACK_BOUND_$call=61440")
            done
        fi
        arm-none-eabi-gcc "${cflags[@]}" "${c_link[@]}" "${bounds[@]}" "$root/examples/firmware/c/main.c" \
            "$root/examples/firmware/c/mps2_vectors.c" "$lib" -o "$out/main-$tag.elf"
        for probe in NONE CNN CNN_TRAIN LSTM LSTM_STREAM ALL; do
            arm-none-eabi-gcc "${cflags[@]}" "${c_link[@]}" -DPROBE_$probe \
                "$root/examples/firmware/c/size_probe.c" "$root/examples/firmware/c/mps2_vectors.c" \
                "$lib" -o "$out/probe-$probe-$tag.elf"
            size[$opt,$target,$probe]=$(sections "$out/probe-$probe-$tag.elf")
        done

        # ---- 5. no allocator, no panic path ------------------------------------
        say "symbols ($target, opt-level $opt): no allocator, panic_bounds_check, rust_begin_unwind, abort"
        # CI's opt-level (the first) must be clean; other levels are
        # measured for the comparison and only reported.
        fail() {
            if [ "$opt" = "$first_opt" ]; then
                printf 'FAIL: %s has:\n%s\n' "$1" "$2" >&2
                exit 1
            fi
            printf 'WARNING (opt-level %s, not the one CI checks): %s has:\n%s\n' "$opt" "$1" "$2"
        }
        bad=$(symbols "$lib" | forbidden c)
        [ -z "$bad" ] || fail "$lib" "$bad"
        # The test program itself uses printf and malloc: newlib's printf
        # brings its own abort (through assert); the library's part of it is
        # checked above.
        bad=$(symbols "$out/main-$tag.elf" | forbidden | grep -v '^abort$' || true)
        [ -z "$bad" ] || fail "$out/main-$tag.elf" "$bad"
        # The programs of one entry point each use no printf: no abort at all.
        # (newlib's start-up links its own _malloc_r; the library's C heap
        # use is checked on the archive above.)
        for elf in "$out"/probe-*-"$tag".elf; do
            bad=$(symbols "$elf" | forbidden)
            [ -z "$bad" ] || fail "$elf" "$bad"
        done
        [ -n "$(symbols "$test_elf" | forbidden)" ] ||
            { echo "self-test: the test binary's panic handler was not flagged" >&2; exit 1; }
        bad=$(symbols "$test_elf" | forbidden c | grep -v -E 'rust_begin_unwind|panic_bounds_check' || true)
        [ -z "$bad" ] || fail "$test_elf" "$bad"
        if [ "$target" = thumbv7em-none-eabihf ]; then
            bad=$(symbols "$mlperf_elf" | forbidden c | grep -v -E 'rust_begin_unwind|panic_bounds_check' || true)
            [ -z "$bad" ] || fail "$mlperf_elf" "$bad"
        fi
        bad=$(symbols "$int8_elf" | forbidden c | grep -v -E 'rust_begin_unwind|panic_bounds_check' || true)
        [ -z "$bad" ] || fail "$int8_elf" "$bad"

        # ---- 5b. the int8 forward uses no floating point (issue 13) -------------
        say "int8 forward ($target, opt-level $opt): no VFP instruction, no soft-float call"
        python3 "$root/tools/thumb_float_check.py" "$int8_elf" sn_int8_kws sn_int8_ic ||
            fail "$int8_elf" "floating point in the int8 forward (above)"
        # The check must be able to fail: a function that computes in f32 is
        # flagged, and so is one calling the generated float edges
        # (`quantize_input`, `dequantize_output`) around the same `forward`.
        for probe in sn_float_probe sn_int8_edges; do
            if python3 "$root/tools/thumb_float_check.py" "$int8_elf" $probe >"$out/float-selftest.out"; then
                cat "$out/float-selftest.out"
                echo "self-test: tools/thumb_float_check.py did not flag $probe" >&2
                exit 1
            fi
            echo "self-test: $probe flagged ($(grep -c 'float:' "$out/float-selftest.out") uses), as it must be"
        done

        echo "checked: libstaticnet_firmware.a and the programs of one entry point each must have none;" \
            "the C test program and the Rust test binary no allocator of Rust's" \
            "(the latter's panic handler is flagged, as it must be)"

        # ---- 3. + 4. run ---------------------------------------------------------
        for board in "${boards[@]}"; do
            say "run on $board ($target, opt-level $opt)"
            log="$out/rust-$board-O$opt"
            qemu "$board" "$test_elf" "$log.counts" test >"$log.out" ||
                { cat "$log.out"; echo "FAIL: the Rust test failed on $board" >&2; exit 1; }
            grep -E '^(ok|FAIL|all)' "$log.out" | sed 's/^/  /' | tail -3
            while read -r name n; do insns[$opt,$board,rust,$name]=$n; done < <(counts "$log.out" "$log.counts")
            log="$out/c-$board-O$opt"
            qemu "$board" "$out/main-$tag.elf" "$log.counts" main \
                "$fixtures/seed_cnn.safetensors" "$fixtures/forecaster.safetensors" >"$log.out" ||
                { cat "$log.out"; echo "FAIL: the C test failed on $board" >&2; exit 1; }
            grep -E '^(stack|all checks)' "$log.out" | sed 's/^/  /'
            while read -r name n; do insns[$opt,$board,c,$name]=$n; done < <(counts "$log.out" "$log.counts")
            while read -r _ name n _; do stack[$opt,$board,$name]=$n; done < <(grep '^stack sn_' "$log.out")
        done
        # The int8 KWS and IC on the M0 (thumbv6m), the M4F and the M7
        # (thumbv7em, with the DSP extension's SMLAD): TFLite Micro's
        # outputs on the golden inputs, every layer, value for value.
        int8_boards=(m0)
        [ "$target" = thumbv7em-none-eabihf ] && int8_boards=(m4f m7)
        int8_board=${int8_boards[0]}
        for b in "${int8_boards[@]}"; do
            say "int8 KWS and IC on $b ($target, opt-level $opt)"
            log="$out/int8-$b-O$opt"
            qemu "$b" "$int8_elf" "$log.counts" test >"$log.out" ||
                { cat "$log.out"; echo "FAIL: the int8 models failed on $b" >&2; exit 1; }
            grep -E '^(ok int8_[a-z]+ (\[|parameters)|FAIL|all)' "$log.out" | sed 's/^/  /'
            echo "  ($(grep -c '^ok int8_[a-z]* layer' "$log.out") layers equal to TFLite Micro's)"
            while read -r name n; do insns[$opt,$b,int8,$name]=$n; done < <(counts "$log.out" "$log.counts")
            while read -r _ name n; do stack[$opt,$b,$name]=$n; done < <(grep '^stack int8_' "$log.out")
            while read -r _ name n; do int8_params[$name]=$n; done < <(grep '^params int8_' "$log.out")
        done
        while read -r _ name n _; do int8_code[$opt,$int8_board,${name#sn_}]=$n; done < <(
            python3 "$root/tools/thumb_code_size.py" "$int8_elf" sn_int8_kws sn_int8_ic)
        if [ "$opt" = "$first_opt" ]; then
            if qemu "$int8_board" "$int8_elf" "$out/int8-selftest.counts" test break >"$out/int8-selftest.out" ||
                grep -q '^ok' "$out/int8-selftest.out"; then
                cat "$out/int8-selftest.out"
                echo "FAIL: the int8 self-test passed a check with a wrong expected value" >&2
                exit 1
            fi
            echo "self-test: $(grep -c '^FAIL' "$out/int8-selftest.out") int8 checks failed with a wrong expected value, as they must"
        fi
        if [ "$target" = thumbv7em-none-eabihf ]; then
            say "MLPerf Tiny models in float on the M7 ($target, opt-level $opt), weights in flash"
            log="$out/mlperf-m7-O$opt"
            qemu m7 "$mlperf_elf" "$log.counts" test >"$log.out" ||
                { cat "$log.out"; echo "FAIL: the MLPerf Tiny test failed on the M7" >&2; exit 1; }
            grep -E '^(ok|FAIL|all)' "$log.out" | sed 's/^/  /'
            while read -r name n; do insns[$opt,m7,mlperf,$name]=$n; done < <(counts "$log.out" "$log.counts")
            while read -r _ name n; do stack[$opt,m7,$name]=$n; done < <(grep '^stack mlperf_' "$log.out")
            mlperf_size[$opt]=$(sections "$mlperf_elf")
            if [ "$opt" = "$first_opt" ]; then
                if qemu m7 "$mlperf_elf" "$out/mlperf-selftest.counts" test break >"$out/mlperf-selftest.out" ||
                    grep -q '^ok' "$out/mlperf-selftest.out"; then
                    cat "$out/mlperf-selftest.out"
                    echo "FAIL: the MLPerf Tiny self-test passed a check with wrong expected values" >&2
                    exit 1
                fi
                echo "self-test: $(grep -c '^FAIL' "$out/mlperf-selftest.out") checks failed with wrong expected values, as they must"
            fi
        fi
        if [ "$target" = thumbv7em-none-eabihf ] && [ "$opt" = "$first_opt" ]; then
            say "self-test: the Rust test with every expected value moved by 1e-4 must fail"
            if qemu m4f "$test_elf" "$out/selftest.counts" test break >"$out/selftest.out"; then
                cat "$out/selftest.out"
                echo "FAIL: the self-test passed" >&2
                exit 1
            fi
            if grep -q '^ok' "$out/selftest.out"; then
                grep '^ok' "$out/selftest.out"
                echo "FAIL: checks passed with wrong expected values (above)" >&2
                exit 1
            fi
            echo "ok: $(grep -c '^FAIL' "$out/selftest.out") checks failed, exit status non-zero"
        fi
    done
done
unset CARGO_PROFILE_RELEASE_OPT_LEVEL

# ---- 6. tables -------------------------------------------------------------------
say "sizes per C entry point (bytes; one C program per part, --gc-sections, minus one calling nothing)"
printf '%-4s %-12s %-4s %8s %8s %6s %8s\n' opt part cpu .text .rodata .data .bss
for opt in $opt_levels; do
    for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
        cpu=M4F
        [ "$target" = thumbv6m-none-eabi ] && cpu=M0
        read -r t0 r0 d0 b0 <<<"${size[$opt,$target,NONE]}"
        for probe in CNN CNN_TRAIN LSTM LSTM_STREAM ALL; do
            read -r t r d b <<<"${size[$opt,$target,$probe]}"
            printf '%-4s %-12s %-4s %8d %8d %6d %8d\n' "$opt" $probe $cpu $((t - t0)) $((r - r0)) $((d - d0)) $((b - b0))
        done
    done
done

say "stack per C entry point (bytes, painted on the emulated board)"
printf '%-4s %-20s %8s %8s %8s\n' opt call M4F M7 M0
for opt in $opt_levels; do
    for call in sn_cnn_predict sn_lstm_predict sn_lstm_step sn_cnn_train_step; do
        printf '%-4s %-20s %8s %8s %8s\n' "$opt" $call "${stack[$opt,m4f,$call]:--}" \
            "${stack[$opt,m7,$call]:--}" "${stack[$opt,m0,$call]:--}"
    done
done

say "executed instructions per call (QEMU TCG plugin; instructions, not cycles) and per multiply-add"
# Multiply-adds: CNN forward 18,432 (conv) + 32,768 + 64 (dense) = 51,264;
# the forecaster's step 4·32·(8+32) + 4·32·(32+32) + 32 = 13,344 and its
# sequence 32 × 13,312 + 32 = 426,016; a training step's forward and
# backward (weight gradients of all layers, input gradients of all but the
# first) 51,264 + 18,432 + 2 × (32,768 + 64) = 135,360 (the optimizer's
# update, one per parameter, not counted as MACs).
declare -A macs=([cnn_forward]=51264 [sn_cnn_predict]=51264 [lstm_forward]=426016
    [sn_lstm_predict]=426016 [lstm_step]=13344 [sn_lstm_step]=13344
    [cnn_train_step]=135360 [sn_cnn_train_step]=135360)
printf '%-4s %-22s %11s %11s %11s %7s %7s %7s\n' opt call M4F M7 M0 M4F/MAC M7/MAC M0/MAC
per_mac() { [ -n "$1" ] && awk -v n="$1" -v m="$2" 'BEGIN { printf "%.2f", n / m }' || echo -; }
for opt in $opt_levels; do
    for key in rust,cnn_forward rust,lstm_forward rust,lstm_step_x32 rust,cnn_train_step \
        c,sn_cnn_predict c,sn_lstm_predict c,sn_lstm_step c,sn_cnn_train_step; do
        prog=${key%%,*} call=${key#*,}
        row=() rates=()
        for board in m4f m7 m0; do
            n=${insns[$opt,$board,$prog,$call]:-}
            name=$call
            if [ "$call" = lstm_step_x32 ] && [ -n "$n" ]; then n=$((n / 32)) name=lstm_step; fi
            row+=("${n:--}")
            rates+=("$(per_mac "$n" "${macs[$name]}")")
        done
        [ "$call" = lstm_step_x32 ] && call="lstm_step (32 / 32)"
        printf '%-4s %-22s %11s %11s %11s %7s %7s %7s\n' "$opt" "$prog: $call" "${row[@]}" "${rates[@]}"
    done
done
echo "(rust: tests/thumb, the model's method; c: the C entry point, input checks and lock included;"
echo " the C train step is BCE + Adam, the Rust one dy = r + SGD)"

say "MLPerf Tiny in float on the M7 (mps2-an500): instructions and painted stack per inference"
# Multiply-adds per inference (tools/bench_mlperf_ort.py computes them
# from the layer shapes; BENCHMARKS.md "MLPerf Tiny models").
printf '%-4s %-12s %12s %10s\n' opt model M7-insns stack
for opt in $opt_levels; do
    for m in ad ic vww sww kws; do
        printf '%-4s %-12s %12s %10s\n' "$opt" "$m" "${insns[$opt,m7,mlperf,mlperf_$m]:--}" \
            "${stack[$opt,m7,mlperf_$m]:--}"
    done
    read -r t r d b <<<"${mlperf_size[$opt]:-0 0 0 0}"
    echo "$opt binary: .text $t, .rodata $r (weights of the five models + golden inputs), .data $d, .bss $b bytes"
done

say "int8 MLPerf Tiny KWS and IC (issue 13): instructions per inference and per multiply-add"
# Multiply-adds: KWS 25·5·64·40 + 4·25·5·64·(9 + 64) + 64·12 = 2,656,768;
# IC (ResNet-8) 12,501,632 (the convolutions' out·K per pixel, and Dense).
declare -A int8_macs=([int8_kws]=2656768 [int8_ic]=12501632)
printf '%-4s %-10s %12s %12s %12s %8s %8s %8s\n' opt model M4F M7 M0 M4F/MAC M7/MAC M0/MAC
for opt in $opt_levels; do
    for m in int8_kws int8_ic; do
        a=${insns[$opt,m4f,int8,$m]:-} c=${insns[$opt,m7,int8,$m]:-} b=${insns[$opt,m0,int8,$m]:-}
        printf '%-4s %-10s %12s %12s %12s %8s %8s %8s\n' "$opt" "$m" "${a:--}" "${c:--}" "${b:--}" \
            "$(per_mac "$a" "${int8_macs[$m]}")" "$(per_mac "$c" "${int8_macs[$m]}")" \
            "$(per_mac "$b" "${int8_macs[$m]}")"
    done
done
say "int8 KWS and IC: code reachable from the entry point, parameters, painted stack (bytes)"
printf '%-4s %-10s %9s %9s %9s %10s %10s\n' opt model code-M4F code-M0 params stack-M4F stack-M0
for opt in $opt_levels; do
    for m in int8_kws int8_ic; do
        printf '%-4s %-10s %9s %9s %9s %10s %10s\n' "$opt" "$m" "${int8_code[$opt,m4f,$m]:--}" \
            "${int8_code[$opt,m0,$m]:--}" "${int8_params[$m]:--}" "${stack[$opt,m4f,$m]:--}" \
            "${stack[$opt,m0,$m]:--}"
    done
done
echo "(params: the generated model's int8 weights, int32 biases and requantization constants, a"
echo " \`static\` in flash; the stack holds the activations and the kernels' buffers)"

say "thumb: ok in $((SECONDS - start)) s"
