//! Run-time CPU dispatch inside the kernels (issue 15, item 3): the
//! instruction-set marker [`Isa`] that picks a kernel's register blocking
//! and multiply-adds per instantiation, and the per-call AVX2 clone of the
//! batched `Dense` kernels.
//!
//! A default `cargo build --release` for x86-64 targets the baseline ISA
//! (SSE2: 4 `f32` lanes, no FMA), and the project's users build with
//! default flags. A model's generated code is dispatched as a whole (see
//! `crate::dispatch`): its AVX2 copy calls the kernels through
//! `kernels::avx2`, instantiated with [`Avx2`]. The sample-major training
//! paths (`Trainer::step`, `train_step`, `accumulate_chunked`) are not
//! copied per model, so there the batched `Dense` kernels and the `Lstm`
//! and `Gru` training kernels check once per call (a cached atomic load and
//! a branch: per layer and chunk of samples or sample, never per value)
//! whether the CPU has AVX2 and FMA, and if so run their [`Avx2`]
//! instantiation in a clone compiled for them ([`avx2_fma`]; the
//! recurrent ones through `kernels::avx2`, so with AVX-512 where that
//! says so), else their portable body ([`portable`]);
//! inside a model's AVX2 copy `kernels::avx2` calls that instantiation
//! directly. `no_std` and firmware builds, and builds for a CPU that has
//! them anyway (`-C target-cpu=native`), keep the compile-time selection:
//! [`ENABLED`] is `false` and the branch and the clone are not compiled.
//!
//! Inside the clone LLVM vectorises the portable loops 8 `f32` lanes wide
//! with AVX2. `blas::madd` stays a multiply and an add there (it decides at
//! compile time, for the whole crate), so kernels whose blocking or
//! multiply-adds depend on the instruction set take an [`Isa`] parameter:
//! [`Avx2`] in the clone and in a model's AVX2 copy (`kernels::avx2`),
//! [`Avx512`] in that copy's recurrent kernels where the CPU has AVX-512,
//! [`Base`] elsewhere.

use crate::Float;

/// Whether this build dispatches at run time: `std` on x86-64 without
/// AVX2 and FMA enabled at compile time.
pub(crate) const ENABLED: bool = crate::dispatch::COMPILED;

/// Whether the CPU this runs on has AVX2 and FMA (only ever `true` where
/// [`ENABLED`]), from [`crate::dispatch::avx2`]'s cached CPUID check: after the first
/// call this is a relaxed atomic load.
#[inline(always)]
#[cfg_attr(
    not(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    )),
    allow(dead_code)
)]
pub(crate) fn has_avx2_fma() -> bool {
    // The crate-wide answer: the same cached CPUID check the generated
    // models' dispatch uses, so `dispatch::set_enabled(false)` and
    // `STATICNET_NO_DISPATCH` switch the training kernels' clones off too.
    crate::dispatch::avx2()
}

/// Runs `f` compiled for AVX2 and FMA: `f` (an `#[inline(always)]`
/// closure around an `#[inline(always)]` kernel body) is inlined into this
/// function, whose code LLVM generates for those features.
///
/// # Safety
///
/// The CPU must have AVX2 and FMA: call only after [`has_avx2_fma`]
/// returned `true`.
#[cfg(all(
    feature = "std",
    target_arch = "x86_64",
    not(all(target_feature = "avx2", target_feature = "fma"))
))]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) unsafe fn avx2_fma<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Runs `f` in the AVX2+FMA clone ([`avx2_fma`]) and returns its result
/// where this build dispatches and the CPU has those features; else
/// returns `None` without running it, and the caller runs its portable
/// body:
///
/// ```ignore
/// if let Some(y) = dispatch::fast(#[inline(always)] || body::<Fused>(x)) {
///     return y;
/// }
/// body::<Unfused>(x)
/// ```
#[inline(always)]
pub(crate) fn fast<R>(f: impl FnOnce() -> R) -> Option<R> {
    #[cfg(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    ))]
    // Not in debug builds: there the closure and the clone are extra
    // frames each holding the kernel's by-value result, which pushed the
    // training steps past their documented stack (tests/stack.rs).
    if !cfg!(debug_assertions) && has_avx2_fma() {
        // SAFETY: `has_avx2_fma` just returned `true`: the CPU has AVX2 and
        // FMA, the only requirement of `avx2_fma`.
        return Some(unsafe { avx2_fma(f) });
    }
    #[cfg(not(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma"))
    )))]
    let _ = f;
    None
}

/// Runs `f`, the portable body after a [`fast`] call that returned `None`,
/// where this build can dispatch (a `std` release build for baseline
/// x86-64) in a frame of its own: not inlined, so that the caller's frame
/// does not hold this body's locals while the AVX2 clone's frames
/// (reached through [`fast`]) sit on top of it; the stack is then the
/// larger of the two paths instead of their sum (for the recurrent
/// training kernels, whose `dL/dz` of every step is 16 KiB for an
/// `Lstm(32)` over 32 steps, tests/stack.rs). Elsewhere `f` is inlined.
#[cfg_attr(
    all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma")),
        not(debug_assertions)
    ),
    inline(never)
)]
#[cfg_attr(
    not(all(
        feature = "std",
        target_arch = "x86_64",
        not(all(target_feature = "avx2", target_feature = "fma")),
        not(debug_assertions)
    )),
    inline(always)
)]
pub(crate) fn portable<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The instruction set a kernel is instantiated for: its register
/// blocking and how it computes `a · b + c`. Chosen per copy of a model's
/// generated code, not per build: the baseline copy calls the kernels with
/// [`Base`] (what the build targets, `cfg!(target_feature)`), the copy
/// compiled for AVX2 and FMA (run-time dispatch) with [`Avx2`], through
/// `kernels::avx2`, whose recurrent kernels take [`Avx512`] in their
/// functions compiled for AVX-512. Every decision on these constants is a constant
/// branch, so each instantiation keeps one body.
pub trait Isa {
    /// 256-bit vectors and 16 of them (AVX and later): the blocking that
    /// keeps two sets of partial sums (`blas::affine2`), 8 rows of a
    /// batched `Dense` per block.
    const AVX: bool;
    /// 512-bit vectors and 32 of them (AVX-512F).
    const AVX512: bool;
    /// Whether the recurrent cells may run their hand-written AVX-512 phases
    /// (`kernels::simd::zmm`) where the CPU has AVX-512F: `kernels::simd::zmm::available`
    /// still checks that it has (at compile time, or
    /// [`crate::dispatch::avx512`] at run time). Read on x86-64 only.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    const ZMM: bool;
    /// Whether [`madd`](Isa::madd) is one fused multiply-add (rounding
    /// once) rather than a multiply and an add.
    const FUSED: bool;
    /// `a · b + c`.
    fn madd<T: Float>(a: T, b: T, c: T) -> T;
}

/// What the build itself targets: the blocking `cfg!(target_feature)`
/// selects and [`blas::madd`](super::blas::madd) (fused only where the
/// whole build has FMA). Firmware, native builds and the baseline copy of
/// a dispatched build use it.
pub struct Base;

impl Isa for Base {
    const AVX: bool = cfg!(target_feature = "avx");
    const AVX512: bool = cfg!(target_feature = "avx512f");
    /// A build for AVX-512F (`-C target-cpu=native` on such a CPU).
    const ZMM: bool = cfg!(target_feature = "avx512f");
    /// The condition [`blas::madd`](super::blas::madd) decides on.
    const FUSED: bool = cfg!(all(feature = "std", target_feature = "fma"));
    #[inline(always)]
    fn madd<T: Float>(a: T, b: T, c: T) -> T {
        super::blas::madd(a, b, c)
    }
}

/// AVX2 and FMA, for code inlined into a function compiled with
/// `#[target_feature(enable = "avx2,fma")]` (the dispatched copy): the AVX
/// blocking, and one fused multiply-add (`mul_add`, LLVM's `fma`
/// intrinsic, one instruction there) for each `a · b + c` when [`FUSE`]
/// says so.
pub struct Avx2;

/// Whether the AVX2 copy fuses its multiply-adds (see BENCHMARKS
/// "Dispatch of training, session 6"): the fused copy rounds once per
/// multiply-add, so its results differ from the baseline copy's in the
/// last bits.
pub const FUSE: bool = true;

impl Isa for Avx2 {
    const AVX: bool = true;
    const AVX512: bool = false;
    const ZMM: bool = false;
    const FUSED: bool = FUSE && cfg!(feature = "std");
    #[inline(always)]
    fn madd<T: Float>(a: T, b: T, c: T) -> T {
        // Without `std`, `mul_add` would be a `libm` call; the AVX2 copy
        // exists only with `std` (`crate::dispatch::COMPILED`).
        if Self::FUSED {
            a.mul_add(b, c)
        } else {
            a * b + c
        }
    }
}

/// AVX-512 (F, VL, BW, DQ) with AVX2 and FMA, for code inlined into a
/// function compiled with those features: each recurrent kernel of
/// `kernels::avx2` runs its instantiation for this marker in a function of its own
/// compiled for AVX-512 when the CPU has it (`crate::dispatch::avx512`).
///
/// The blocking is [`Avx2`]'s (rows in blocks of 16 `f32`, one 512-bit
/// register each), not the two-vector 512-bit blocking `Base` selects in a
/// `-C target-cpu=native` build on such a CPU: compiled by a function's
/// target features alone, without the CPU's tuning, LLVM kept that
/// blocking's tiles in memory and ran them scalar (W2's training step
/// 16k samples/s against 54k with this blocking; BENCHMARKS.md, "AVX-512
/// from a default build"). A marker of its own rather than `Avx2` itself,
/// so that every generic function the kernels instantiate (the closures
/// too) is a separate copy for this context, which LLVM compiles for
/// AVX-512, instead of one copy shared with the AVX2 context and
/// compiled for neither.
pub struct Avx512;

impl Isa for Avx512 {
    const AVX: bool = true;
    const AVX512: bool = false;
    /// This instantiation runs only in functions compiled for AVX-512.
    const ZMM: bool = true;
    const FUSED: bool = Avx2::FUSED;
    #[inline(always)]
    fn madd<T: Float>(a: T, b: T, c: T) -> T {
        Avx2::madd(a, b, c)
    }
}
