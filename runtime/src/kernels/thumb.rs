//! Inference kernels written for 32-bit Arm with a hardware-float ABI
//! (`target_abi = "eabihf"`: Cortex-M4F, M7, M33, … and the A-profile
//! `gnueabihf` targets), where LLVM's code for the portable loops spends
//! more instructions on loads than on multiply-adds.
//!
//! Cortex-M's FPU has 32 single-precision registers and a multi-register
//! load (`vldmia rN!, {s0-s7}`: eight floats, one instruction), but LLVM
//! does not form it from the portable loops (its register allocator does
//! not hand out the consecutive registers it needs), so every weight was a
//! `vldr` of its own beside its `vmla`, and the address arithmetic and
//! spills of the 16-row blocks brought the Dense layer to ~3 instructions
//! per multiply-add (BENCHMARKS.md, "Cortex-M4F instructions per MAC,
//! session 5"). The kernel below keeps 16 sums in `s16`–`s31`, loads
//! eight inputs at a time into `s8`–`s15` and each column's 16 weights in
//! two `vldmia` of eight into `s0`–`s7`: 155 instructions per 128
//! multiply-adds (1.21 per MAC).
//!
//! `vmla.f32` rounds the product and then the sum, exactly as the portable
//! `a * b + c` (LLVM emits the same instruction for it), and the sums are
//! taken in the same order (the bias first, then column by column), so the
//! results are bit-identical to the portable loops'.
//!
//! Every other target compiles none of this: the kernel returns `false`
//! (a constant) and the callers keep their portable loops.

/// `acc[r] += Σ_j w[j][r0 + r] · x[j]` for the 16 rows `r0..r0 + 16` of
/// the column-major `w` (`R` rows, `C` columns, column `j` is `w[j]`),
/// summed column by column in order (`acc` first), each step one
/// `vmla.f32` (`acc + w · x`, rounded twice as in the portable code).
///
/// Returns `false` (and does nothing) on other targets or where
/// `r0 + 16 > R`; the caller then runs its portable loop.
#[allow(unused_variables)]
#[inline(always)]
pub(crate) fn cols16_f32<const R: usize, const C: usize>(
    acc: &mut [f32; 16],
    w: &[[f32; R]; C],
    r0: usize,
    x: &[f32; C],
) -> bool {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        if r0 + 16 > R {
            return false;
        }
        if C > 0 {
            cols16_asm(acc, w, r0, x);
        }
        return true;
    }
    #[allow(unreachable_code)]
    false
}

/// One column of [`cols16_f32`]: its 16 weights in two loads of eight into
/// `s0`–`s7` (the pointer `{w}` moved on by 32 bytes by the first), each
/// times the input in register `$x` added to `s16`–`s31`; then `{w}` moved
/// on to the same rows of the next column.
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
macro_rules! column {
    ($x:literal) => {
        concat!(
            "vldmia {w}!, {{s0-s7}}\n",
            "vmla.f32 s16, s0, ",
            $x,
            "\n",
            "vmla.f32 s17, s1, ",
            $x,
            "\n",
            "vmla.f32 s18, s2, ",
            $x,
            "\n",
            "vmla.f32 s19, s3, ",
            $x,
            "\n",
            "vmla.f32 s20, s4, ",
            $x,
            "\n",
            "vmla.f32 s21, s5, ",
            $x,
            "\n",
            "vmla.f32 s22, s6, ",
            $x,
            "\n",
            "vmla.f32 s23, s7, ",
            $x,
            "\n",
            "vldmia {w}, {{s0-s7}}\n",
            "vmla.f32 s24, s0, ",
            $x,
            "\n",
            "vmla.f32 s25, s1, ",
            $x,
            "\n",
            "vmla.f32 s26, s2, ",
            $x,
            "\n",
            "vmla.f32 s27, s3, ",
            $x,
            "\n",
            "vmla.f32 s28, s4, ",
            $x,
            "\n",
            "vmla.f32 s29, s5, ",
            $x,
            "\n",
            "vmla.f32 s30, s6, ",
            $x,
            "\n",
            "vmla.f32 s31, s7, ",
            $x,
            "\n",
            "add {w}, {w}, {next}\n",
        )
    };
}

/// [`cols16_f32`] for `C > 0` and `r0 + 16 <= R`.
#[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
#[inline(always)]
fn cols16_asm<const R: usize, const C: usize>(
    acc: &mut [f32; 16],
    w: &[[f32; R]; C],
    r0: usize,
    x: &[f32; C],
) {
    // Bytes from the second half of one column's 16 rows to the first of
    // the next column's (R ≥ 16 here, so not negative).
    let next = R * 4 - 32;
    // SAFETY: the assembly reads and writes only memory these references
    // own, and only as they allow:
    // - `acc`: 16 floats read at the start and written at the end
    //   (`vldmia`/`vstmia {acc}, {s16-s31}`: 64 bytes from its address);
    // - `x`: `C` floats read, eight per iteration of the first loop
    //   (`C / 8` iterations), then one per iteration of the second
    //   (`C % 8`), the pointer moving forward past each: `C` in all;
    // - `w`: for each column `j < C`, the 16 floats `w[j][r0..r0 + 16]`,
    //   in bounds because the caller checked `r0 + 16 <= R`: `{w}` starts
    //   at `w[0][r0]`, each column's two loads read 64 bytes from the
    //   column's start (the first moves `{w}` on by 32), and the `add`
    //   moves it on by `R·4 − 32` bytes to `w[j + 1][r0]` (computed from
    //   `wrapping_add`, never dereferenced after the last column).
    // The floats are `f32` and the references aligned for them (`vldm`
    // needs word alignment). Every register written is declared: the FPU
    // registers as clobbered outputs (the compiler saves the callee-saved
    // `s16`–`s31` itself), the pointers and counters as `inout` and
    // discarded; the loop counters' comparisons change only the flags,
    // which are not declared preserved. No stack is used.
    unsafe {
        core::arch::asm!(
            "vldmia {acc}, {{s16-s31}}",
            "cmp {n8}, #0",
            "beq 3f",
            "2:",
            "vldmia {x}!, {{s8-s15}}",
            column!("s8"),
            column!("s9"),
            column!("s10"),
            column!("s11"),
            column!("s12"),
            column!("s13"),
            column!("s14"),
            column!("s15"),
            "subs {n8}, {n8}, #1",
            "bne 2b",
            "3:",
            "cmp {n1}, #0",
            "beq 5f",
            "4:",
            "vldmia {x}!, {{s8}}",
            column!("s8"),
            "subs {n1}, {n1}, #1",
            "bne 4b",
            "5:",
            "vstmia {acc}, {{s16-s31}}",
            acc = in(reg) acc.as_mut_ptr(),
            w = inout(reg) w.as_ptr().cast::<f32>().wrapping_add(r0) => _,
            x = inout(reg) x.as_ptr() => _,
            n8 = inout(reg) C / 8 => _,
            n1 = inout(reg) C % 8 => _,
            next = in(reg) next,
            out("s0") _, out("s1") _, out("s2") _, out("s3") _,
            out("s4") _, out("s5") _, out("s6") _, out("s7") _,
            out("s8") _, out("s9") _, out("s10") _, out("s11") _,
            out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            out("s16") _, out("s17") _, out("s18") _, out("s19") _,
            out("s20") _, out("s21") _, out("s22") _, out("s23") _,
            out("s24") _, out("s25") _, out("s26") _, out("s27") _,
            out("s28") _, out("s29") _, out("s30") _, out("s31") _,
            options(nostack),
        );
    }
}

/// 4 filters × 4 output pixels of a stride-1 convolution with kernels 3
/// wide and no padding (the `valid` fast path of `conv2d`), into four rows
/// of `OW` (one per filter): for `f, p` in `0..4`,
/// `rows[f][j0 + p] = act(b[f] + Σ_(c, ki, kj) w[(c·KH + ki)·3 + kj][o0 + f]
/// · x[c][i + ki][j0 + p + kj])` with `b = init[4f..4f + 4]`, summed tap
/// by tap in that order (channel, kernel row, kernel column), each step one
/// `vmla.f32` (rounded twice, as the portable `a * b + c`); `act` is `relu`
/// (`x < 0 ? 0 : x`, as `Relu::scalar`) if `RELU`, else the identity.
///
/// Per kernel row: the six inputs it needs in one `vldmia` into `s8`–`s13`,
/// and for each of its three taps the four filters' weights (contiguous in
/// the column-major weight: column `k` holds tap `k` of every filter) in
/// one `vldmia` into `s0`–`s3`, then 16 `vmla` into the sums in
/// `s16`–`s31`: 58 instructions per 48 multiply-adds. The `relu` is four
/// instructions per value (compare, flags, a predicated move: FPv4 has no
/// `vmax`), and each filter's four results leave in one `vstmia`.
///
/// The rows are the caller's local buffer, not the output image: giving
/// the image's address to the assembly made it escape, and LLVM then
/// built a by-value convolution's output in a local and copied it out
/// (8 KB more `memcpy` for W1's).
///
/// Returns `false` (and does nothing) on other targets, or unless
/// `K = C·KH·3`, `o0 + 4 <= O`, `i + KH <= H`, `j0 + 6 <= W` and
/// `j0 + 4 <= OW` (which make every access in bounds); the caller then
/// runs its portable loop.
#[allow(unused_variables, clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn conv3_4x4_f32<
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const K: usize,
    const OW: usize,
    const RELU: bool,
>(
    init: &[f32; 16],
    w: &[[f32; O]; K],
    o0: usize,
    x: &[[[f32; W]; H]; C],
    i: usize,
    j0: usize,
    rows: &mut [[f32; OW]; 4],
) -> bool {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        if K != C * KH * 3
            || C == 0
            || KH == 0
            || o0 + 4 > O
            || i + KH > H
            || j0 + 6 > W
            || j0 + 4 > OW
        {
            return false;
        }
        let wp = w.as_ptr().cast::<f32>().wrapping_add(o0);
        let xp = x.as_ptr().cast::<f32>().wrapping_add(i * W + j0);
        let op = rows.as_mut_ptr().cast::<f32>().wrapping_add(j0);
        // SAFETY: the assembly reads and writes only memory these
        // references own, and only as they allow:
        // - `init`: 16 floats (64 bytes) read at its address;
        // - `w`: for each tap `k < K` in order, `w[k][o0..o0 + 4]` read, in
        //   bounds as `o0 + 4 <= O`: `{w}` starts at `w[0][o0]`, each load
        //   of four moves it on by 16 bytes and the `add` by `O·4 − 16`
        //   more, to `w[k + 1][o0]`; the loops run `C · KH · 3 = K` taps;
        // - `x`: for each channel `c < C` and kernel row `ki < KH`, the six
        //   floats `x[c][i + ki][j0..j0 + 6]` read, in bounds as
        //   `j0 + 6 <= W` and `i + KH <= H`: `{x}` starts at `x[0][i][j0]`,
        //   moves on by one row (`W·4` bytes) after each kernel row and by
        //   the `H − KH` rows left of the channel after its `KH` rows, to
        //   `x[c + 1][i][j0]`;
        // - `rows`: for each `f < 4`, `rows[f][j0..j0 + 4]` written, in
        //   bounds as `j0 + 4 <= OW`: `{out}` starts at `rows[0][j0]` and
        //   moves on by one row (`OW·4` bytes) between the four stores.
        // (Pointers from `wrapping_add`, never dereferenced past the last
        // row, tap or channel.) The floats are word-aligned `f32`, as
        // `vldm`/`vstm` need. `s0`–`s13` and `s16`–`s31` are declared
        // clobbered, the pointers and counters `inout` and discarded, and
        // the flags not declared preserved. No stack is used.
        unsafe {
            core::arch::asm!(
                "vldmia {init}, {{s16-s31}}",
                "2:",
                "mov {k}, {kh}",
                "3:",
                "vldmia {x}, {{s8-s13}}",
                "add {x}, {x}, {xrow}",
                "vldmia {w}!, {{s0-s3}}",
                "vmla.f32 s16, s0, s8",
                "vmla.f32 s17, s0, s9",
                "vmla.f32 s18, s0, s10",
                "vmla.f32 s19, s0, s11",
                "vmla.f32 s20, s1, s8",
                "vmla.f32 s21, s1, s9",
                "vmla.f32 s22, s1, s10",
                "vmla.f32 s23, s1, s11",
                "vmla.f32 s24, s2, s8",
                "vmla.f32 s25, s2, s9",
                "vmla.f32 s26, s2, s10",
                "vmla.f32 s27, s2, s11",
                "vmla.f32 s28, s3, s8",
                "vmla.f32 s29, s3, s9",
                "vmla.f32 s30, s3, s10",
                "vmla.f32 s31, s3, s11",
                "add {w}, {w}, {wnext}",
                "vldmia {w}!, {{s0-s3}}",
                "vmla.f32 s16, s0, s9",
                "vmla.f32 s17, s0, s10",
                "vmla.f32 s18, s0, s11",
                "vmla.f32 s19, s0, s12",
                "vmla.f32 s20, s1, s9",
                "vmla.f32 s21, s1, s10",
                "vmla.f32 s22, s1, s11",
                "vmla.f32 s23, s1, s12",
                "vmla.f32 s24, s2, s9",
                "vmla.f32 s25, s2, s10",
                "vmla.f32 s26, s2, s11",
                "vmla.f32 s27, s2, s12",
                "vmla.f32 s28, s3, s9",
                "vmla.f32 s29, s3, s10",
                "vmla.f32 s30, s3, s11",
                "vmla.f32 s31, s3, s12",
                "add {w}, {w}, {wnext}",
                "vldmia {w}!, {{s0-s3}}",
                "vmla.f32 s16, s0, s10",
                "vmla.f32 s17, s0, s11",
                "vmla.f32 s18, s0, s12",
                "vmla.f32 s19, s0, s13",
                "vmla.f32 s20, s1, s10",
                "vmla.f32 s21, s1, s11",
                "vmla.f32 s22, s1, s12",
                "vmla.f32 s23, s1, s13",
                "vmla.f32 s24, s2, s10",
                "vmla.f32 s25, s2, s11",
                "vmla.f32 s26, s2, s12",
                "vmla.f32 s27, s2, s13",
                "vmla.f32 s28, s3, s10",
                "vmla.f32 s29, s3, s11",
                "vmla.f32 s30, s3, s12",
                "vmla.f32 s31, s3, s13",
                "add {w}, {w}, {wnext}",
                "subs {k}, {k}, #1",
                "bne 3b",
                "add {x}, {x}, {xchan}",
                "subs {c}, {c}, #1",
                "bne 2b",
                // relu: s0 = +0.0 (the bits of the channel counter, now
                // 0), then each sum below zero replaced by it: `x < 0` is
                // `mi` after the compare (false for -0.0 and NaN, which
                // stay, as in `Relu::scalar`).
                ".if {relu}",
                "vmov s0, {c}",
                "vcmp.f32 s16, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s16, s0",
                "vcmp.f32 s17, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s17, s0",
                "vcmp.f32 s18, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s18, s0",
                "vcmp.f32 s19, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s19, s0",
                "vcmp.f32 s20, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s20, s0",
                "vcmp.f32 s21, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s21, s0",
                "vcmp.f32 s22, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s22, s0",
                "vcmp.f32 s23, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s23, s0",
                "vcmp.f32 s24, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s24, s0",
                "vcmp.f32 s25, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s25, s0",
                "vcmp.f32 s26, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s26, s0",
                "vcmp.f32 s27, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s27, s0",
                "vcmp.f32 s28, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s28, s0",
                "vcmp.f32 s29, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s29, s0",
                "vcmp.f32 s30, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s30, s0",
                "vcmp.f32 s31, #0",
                "vmrs APSR_nzcv, fpscr",
                "it mi",
                "vmovmi.f32 s31, s0",
                ".endif",
                // Each filter's four results, one row of `rows` apart
                // (`OW·4` bytes, put in the free counter register).
                "movw {k}, #({orow} & 0xffff)",
                "movt {k}, #({orow} >> 16)",
                "vstmia {out}, {{s16-s19}}",
                "add {out}, {out}, {k}",
                "vstmia {out}, {{s20-s23}}",
                "add {out}, {out}, {k}",
                "vstmia {out}, {{s24-s27}}",
                "add {out}, {out}, {k}",
                "vstmia {out}, {{s28-s31}}",
                init = in(reg) init.as_ptr(),
                w = inout(reg) wp => _,
                x = inout(reg) xp => _,
                out = inout(reg) op => _,
                c = inout(reg) C => _,
                k = out(reg) _,
                kh = in(reg) KH,
                wnext = in(reg) O * 4 - 16,
                xrow = in(reg) W * 4,
                xchan = in(reg) (H - KH) * W * 4,
                relu = const RELU as u32,
                orow = const OW * 4,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _,
                out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                out("s12") _, out("s13") _,
                out("s16") _, out("s17") _, out("s18") _, out("s19") _,
                out("s20") _, out("s21") _, out("s22") _, out("s23") _,
                out("s24") _, out("s25") _, out("s26") _, out("s27") _,
                out("s28") _, out("s29") _, out("s30") _, out("s31") _,
                options(nostack),
            );
        }
        return true;
    }
    #[allow(unreachable_code)]
    false
}

/// Max pooling with 2 × 2 windows and stride 2 that tile the input
/// exactly (`H = 2·OH`, `W = 2·OW`), with the comparisons of the portable
/// tiled loop (`max_pool2d_into`) in its order: per column
/// `r1 > r0 ? r1 : r0` over the window's two rows, then per output
/// `m1 > m0 ? m1 : m0` over its two columns. Plain Rust, no assembly.
///
/// FPv4 has no `vmax`/`vsel`, and PyTorch's rule (a NaN wins) made the
/// portable select two compares and two flag transfers, 8 instructions
/// per comparison. Here each comparison is one compare, one flag transfer
/// and one predicated move (4 instructions), which is the same result
/// whenever no value is NaN; whether one is, is told by `z += v · 0` over
/// every input (one `vmla` each: `z` stays 0 unless some `v` is NaN or
/// infinite). If it is not 0 the kernel returns `Some(false)` and the
/// caller runs its portable loop, which overwrites every output with the
/// exact NaN rule (an infinity takes that slower path too, with the same
/// result). 22 instructions per output in the textbook CNN, against 30.
///
/// (An assembly form with `vldm` loads and `vcmpe`, whose invalid-operation
/// flag tells a NaN at no cost per value, took 15.5 instructions per
/// output, but passing the convolution's output to assembly made LLVM copy
/// that 8 KB image into another local first: more than it saved.)
///
/// Returns `Some(true)` when done, `Some(false)` when an input was NaN or
/// infinite (then `y` holds partial results the caller must overwrite),
/// `None` on other targets or for other shapes.
#[allow(unused_variables)]
#[inline(always)]
pub(crate) fn max_pool2_f32<
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &[[[f32; W]; H]; C],
    y: &mut [[[f32; OW]; OH]; C],
) -> Option<bool> {
    #[cfg(all(target_arch = "arm", target_abi = "eabihf"))]
    {
        if H != 2 * OH || W != 2 * OW {
            return None;
        }
        // `z` stays 0 unless some input is NaN or infinite (`v · 0` is NaN
        // for those, 0 otherwise): then the portable loop redoes the pool.
        let mut z = 0f32;
        for (xc, yc) in x.iter().zip(y.iter_mut()) {
            for (rows, yr) in xc.as_chunks::<2>().0.iter().zip(yc.iter_mut()) {
                let (r0, _) = rows[0].as_chunks::<2>();
                let (r1, _) = rows[1].as_chunks::<2>();
                for ((a, b), o) in r0.iter().zip(r1).zip(yr.iter_mut()) {
                    z += a[0] * 0.0;
                    z += a[1] * 0.0;
                    z += b[0] * 0.0;
                    z += b[1] * 0.0;
                    let m0 = if b[0] > a[0] { b[0] } else { a[0] };
                    let m1 = if b[1] > a[1] { b[1] } else { a[1] };
                    *o = if m1 > m0 { m1 } else { m0 };
                }
            }
        }
        return Some(z == 0.0);
    }
    #[allow(unreachable_code)]
    None
}
