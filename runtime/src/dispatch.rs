//! Run-time CPU dispatch: the same model code, compiled a second time for
//! x86-64's AVX2 + FMA and chosen per call when the CPU has them.
//!
//! A default `cargo build --release` targets the x86-64 baseline (SSE2), so
//! fixed-size loops run four `f32` lanes wide although almost every x86-64
//! CPU of the last ten years has AVX2. With the `std` feature on x86-64,
//! every model `model!` generates compiles its inference [`forward`] and
//! streaming `step`, and its layer-major training step
//! ([`forward_train_layers`] and [`backward_layers`], what `fit` and
//! `Trainer::step_layers` run), twice: once for the baseline and once
//! inside a function with `#[target_feature(enable = "avx2,fma")]`, into
//! which every kernel is inlined (the kernels are `#[inline(always)]` in
//! such builds). The generated method asks [`avx2`] once per call (per
//! forward, per step, per batch) and runs the AVX2 copy when it returns
//! `true`.
//!
//! The AVX2 copy calls the kernels through `kernels::avx2`, which
//! instantiates those whose register blocking depends on the instruction
//! set (the recurrent cells, the matrix-vector products behind them, the
//! batched `Dense` training kernels) for AVX2: their AVX blocking and one
//! fused multiply-add per `a · b + c`, whatever the build itself targets.
//! A fused multiply-add rounds once instead of twice, so where those
//! kernels run, the AVX2 copy's results differ from the baseline copy's in
//! the last bits (`tests/dispatch.rs` bounds the difference at 1e-5 of the
//! largest value in `f32`); the other kernels (convolutions, pooling,
//! BatchNorm, the per-sample `Dense`) compute bit-identical results in both
//! copies.
//!
//! On a CPU with AVX-512 (F, VL, BW and DQ), the recurrent kernels
//! `kernels::avx2` shadows (the cells, their sequences, their per-sample
//! and batched training kernels) go one step further: each runs
//! in a function of its own compiled for AVX-512, asked once per kernel
//! call ([`avx512`]), with the same blocking and fused multiply-adds, so
//! with the same results bit for bit (`tests/dispatch.rs`). So do the
//! batched `Dense` forward and weight gradient of training, through
//! hand-written 512-bit kernels (`kernels::simd::zmm::dense_rows` and
//! `outer8`: 32 rows per block in AVX-512's 32 registers, the same bits;
//! compiled by the function's features alone, the AVX2 blocking was no
//! faster, BENCHMARKS.md "The batched `Dense` in 512-bit registers"). The
//! rest of the AVX2 copy stays AVX2: a third copy of the whole
//! layer-major training step compiled for AVX-512 was slower than the
//! AVX2 copy (BENCHMARKS.md, "AVX-512 from a default build").
//! `STATICNET_NO_AVX512` in the environment, or [`set_avx512`]`(false)`,
//! keeps them all on AVX2.
//!
//! The sample-major training paths (`Trainer::step`, `train_step`) are not
//! copied per model; their batched `Dense` kernels run a clone compiled for
//! AVX2 + FMA per call instead (`kernels::dispatch`). The same switch
//! ([`avx2`], [`set_enabled`], `STATICNET_NO_DISPATCH`) governs all.
//!
//! Setting the environment variable `STATICNET_NO_DISPATCH` (to anything)
//! before the first forward keeps every model on its baseline copy, as
//! [`set_enabled`]`(false)` does from code.
//!
//! Without `std` (firmware), on other architectures, or when the build
//! itself already targets AVX2 and FMA (`-C target-cpu=native` on such a
//! CPU), there is one copy and [`avx2`] is `false`.
//!
//! [`forward`]: crate::Model::forward
//! [`forward_train_layers`]: crate::Train::forward_train_layers
//! [`backward_layers`]: crate::Train::backward_layers

use core::sync::atomic::{AtomicU8, Ordering};

/// Not yet asked.
const UNKNOWN: u8 = 0;
/// The CPU has AVX2 and FMA and dispatch is on.
const YES: u8 = 1;
/// The CPU lacks them.
const NO: u8 = 2;
/// Switched off by [`set_enabled`].
const OFF: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
/// [`avx512`]'s state: the same values.
static WIDE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Whether this build has a second copy to dispatch to: `std` on x86-64,
/// not already compiled for AVX2 and FMA. Where it is `false`, [`avx2`] is
/// a constant `false` once inlined, and the generated AVX2 copies are dead
/// code the compiler removes (firmware keeps its one copy and its stack).
pub const COMPILED: bool = cfg!(all(
    feature = "std",
    target_arch = "x86_64",
    not(all(target_feature = "avx2", target_feature = "fma"))
));

/// Whether the generated code should run its AVX2 + FMA copy: the CPU has
/// both (asked once, then remembered), dispatch is compiled in (see the
/// module docs) and it was not switched off with [`set_enabled`].
///
/// ```
/// // The same answer every time; `false` without std or off x86-64.
/// assert_eq!(staticnet_runtime::dispatch::avx2(), staticnet_runtime::dispatch::avx2());
/// ```
#[inline]
pub fn avx2() -> bool {
    COMPILED && cached(&STATE, detect)
}

/// Whether the recurrent kernels inside the AVX2 copy should run their
/// AVX-512 instantiation (`kernels::dispatch::Avx512`, each in a function
/// of its own compiled for AVX-512F, VL, BW and DQ): [`avx2`] holds, the
/// CPU has those features too (asked once, then remembered), and neither
/// [`set_avx512`]`(false)` nor the environment variable
/// `STATICNET_NO_AVX512` switched them off. Asked once per kernel call
/// (per layer, per step or batch), never per value.
///
/// ```
/// // Never without the AVX2 copy.
/// use staticnet_runtime::dispatch;
/// assert!(!dispatch::avx512() || dispatch::avx2());
/// ```
#[inline]
pub fn avx512() -> bool {
    avx2() && cached(&WIDE, detect_wide)
}

/// Switches dispatch off (`false`: every model runs its baseline copy) or
/// back on (`true`: the AVX2 copy where the CPU has it). For benchmarks
/// that compare the two copies in one run, and for tests; it affects every
/// thread.
pub fn set_enabled(on: bool) {
    set(&STATE, on, detect);
}

/// Switches the AVX-512 instantiation of the recurrent kernels off
/// (`false`: the AVX2 copy runs its AVX2 instantiation throughout) or back
/// on where the CPU has AVX-512. For benchmarks and tests that compare the
/// two; it affects every thread. [`set_enabled`]`(false)` switches both
/// off.
pub fn set_avx512(on: bool) {
    set(&WIDE, on, detect_wide);
}

/// `state`'s answer, from `detect` on the first call.
#[cfg(all(
    feature = "std",
    target_arch = "x86_64",
    not(all(target_feature = "avx2", target_feature = "fma"))
))]
fn cached(state: &AtomicU8, detect: fn() -> bool) -> bool {
    match state.load(Ordering::Relaxed) {
        YES => true,
        NO | OFF => false,
        _ => {
            let yes = detect();
            // A concurrent `set_*(false)` wins: only replace UNKNOWN.
            let _ = state.compare_exchange(
                UNKNOWN,
                if yes { YES } else { NO },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            state.load(Ordering::Relaxed) == YES
        }
    }
}

/// Without a second copy there is nothing to cache (and targets such as
/// thumbv6m have no compare-and-swap).
#[cfg(not(all(
    feature = "std",
    target_arch = "x86_64",
    not(all(target_feature = "avx2", target_feature = "fma"))
)))]
fn cached(_: &AtomicU8, _: fn() -> bool) -> bool {
    false
}

/// Stores `on`'s state in `state`: off, or what `detect` says.
fn set(state: &AtomicU8, on: bool, detect: fn() -> bool) {
    let v = if !on {
        OFF
    } else if detect() {
        YES
    } else {
        NO
    };
    state.store(v, Ordering::Relaxed);
}

/// Whether dispatch is compiled in, the CPU has AVX2 and FMA, and the
/// environment variable `STATICNET_NO_DISPATCH` is not set.
fn detect() -> bool {
    #[cfg(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    ))]
    {
        std::env::var_os("STATICNET_NO_DISPATCH").is_none()
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    )))]
    {
        false
    }
}

/// Whether the CPU has AVX-512F, VL, BW and DQ and `STATICNET_NO_AVX512`
/// is not set (only asked where [`COMPILED`]).
fn detect_wide() -> bool {
    #[cfg(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    ))]
    {
        std::env::var_os("STATICNET_NO_AVX512").is_none()
            && std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    )))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_off_and_on() {
        set_enabled(false);
        assert!(!avx2());
        set_enabled(true);
        assert_eq!(avx2(), detect());
    }
}
