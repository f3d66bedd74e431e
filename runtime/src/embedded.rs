//! Compiled-in weights (`#[weights("file.safetensors")]` on `model!`):
//! `const fn`s that decode the file's bytes, which the generated code
//! takes with `include_bytes!`, into nalgebra's column storage at compile
//! time.
//!
//! One float literal per weight makes rustc's memory grow by about 1 KB
//! per weight (1.2 GB at 1M parameters; BENCHMARKS.md "Compiled-in
//! weights: compile time"; rust-lang/rust#52868). A byte string is one
//! token however long it is, and decoding it in a `const` costs the same
//! per value at any size: time stays linear and memory small (0.2 GB at
//! 1M parameters).
//!
//! The decoded values are an ordinary constant: in a `static` they sit in
//! read-only data (flash), with no copy of the file's bytes beside them
//! (the bytes are only read by the compiler) and no code run at start-up.
//!
//! The file is PyTorch's row-major `[rows, cols]` (a tensor's first
//! dimension, then the rest flattened); nalgebra's `ArrayStorage` is
//! column-major, `[[T; R]; C]`, so storage `[c][r]` is the file's value
//! `r · cols + c`. Bytes are assembled little-endian (safetensors' order)
//! with shifts, so the result is the same on any target's byte order.
//!
//! The compiler stops a constant evaluation that runs "too long" (the
//! `long_running_const_eval` lint, about two million calls and loop
//! iterations; measured on rustc 1.95: 2.25 million values in one evaluation
//! trip it, half a million do not); the macro therefore decodes each
//! tensor in its own constant, and a tensor of more than 2^18 values in
//! parts of whole columns, each its own constant, joined by
//! [`with_columns`], a copy of whole columns.

/// The element type of a tensor in the file (the float dtypes the macro
/// accepts; it checked each tensor's dtype, shape and byte range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE binary32.
    F32,
    /// IEEE binary64.
    F64,
    /// IEEE binary16.
    F16,
    /// bfloat16: the upper half of a binary32.
    BF16,
}

impl Dtype {
    /// Bytes per value.
    pub const fn width(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F64 => 8,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }
}

/// The little-endian `u16` at `file[i..i + 2]`.
const fn le16(file: &[u8], i: usize) -> u16 {
    file[i] as u16 | (file[i + 1] as u16) << 8
}

/// IEEE binary16 to `f64`, exactly (every binary16 value is a binary64
/// value; NaN stays NaN).
pub const fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as u64;
    let frac = (h & 0x3ff) as u64;
    match exp {
        // Subnormal: frac · 2^-24.
        0 => sign * frac as f64 * f64::from_bits((1023 - 24) << 52),
        0x1f if frac == 0 => sign * f64::INFINITY,
        0x1f => f64::NAN,
        _ => sign * f64::from_bits(((exp + 1023 - 15) << 52) | (frac << 42)),
    }
}

/// The loop of `f32_columns` and `f64_columns`: storage `[j][r]` is
/// the value at the file's flat index `r · cols + first + j`, read by
/// `$read(i)` at byte `i`. Written out once per dtype so that the common
/// case's loop body is a few statements with no call (constant evaluation
/// is interpreted: each call and each statement costs time per value).
macro_rules! columns {
    ($t:ty, $file:ident, $start:ident, $width:expr, $cols:ident, $first:ident, |$i:ident| $read:expr) => {{
        let w = $width;
        let mut out: [[$t; R]; N] = [[0.0; R]; N];
        let mut r = 0;
        while r < R {
            let mut $i = $start + (r * $cols + $first) * w;
            let mut j = 0;
            while j < N {
                out[j][r] = $read;
                $i += w;
                j += 1;
            }
            r += 1;
        }
        out
    }};
}

/// Columns `first .. first + N` of the storage of a row-major
/// `[R, cols]` tensor of `dtype` whose data begins at byte `start` of
/// `file`, as `f32`: exact for F32, F16 and BF16, F64 rounded to nearest
/// (`as`). Panics (a compile error, in a `const`) if the bytes are not
/// there.
pub const fn f32_columns<const R: usize, const N: usize>(
    file: &[u8],
    start: usize,
    dtype: Dtype,
    cols: usize,
    first: usize,
) -> [[f32; R]; N] {
    match dtype {
        Dtype::F32 => columns!(f32, file, start, 4, cols, first, |i| f32::from_bits(
            file[i] as u32
                | (file[i + 1] as u32) << 8
                | (file[i + 2] as u32) << 16
                | (file[i + 3] as u32) << 24
        )),
        Dtype::F64 => columns!(f32, file, start, 8, cols, first, |i| f64::from_bits(
            file[i] as u64
                | (file[i + 1] as u64) << 8
                | (file[i + 2] as u64) << 16
                | (file[i + 3] as u64) << 24
                | (file[i + 4] as u64) << 32
                | (file[i + 5] as u64) << 40
                | (file[i + 6] as u64) << 48
                | (file[i + 7] as u64) << 56
        ) as f32),
        Dtype::F16 => columns!(
            f32,
            file,
            start,
            2,
            cols,
            first,
            |i| f16_to_f64(le16(file, i)) as f32
        ),
        Dtype::BF16 => columns!(f32, file, start, 2, cols, first, |i| f32::from_bits(
            (le16(file, i) as u32) << 16
        )),
    }
}

/// [`f32_columns`] as `f64` (exact for every dtype).
pub const fn f64_columns<const R: usize, const N: usize>(
    file: &[u8],
    start: usize,
    dtype: Dtype,
    cols: usize,
    first: usize,
) -> [[f64; R]; N] {
    match dtype {
        Dtype::F32 => columns!(f64, file, start, 4, cols, first, |i| f32::from_bits(
            file[i] as u32
                | (file[i + 1] as u32) << 8
                | (file[i + 2] as u32) << 16
                | (file[i + 3] as u32) << 24
        ) as f64),
        Dtype::F64 => columns!(f64, file, start, 8, cols, first, |i| f64::from_bits(
            file[i] as u64
                | (file[i + 1] as u64) << 8
                | (file[i + 2] as u64) << 16
                | (file[i + 3] as u64) << 24
                | (file[i + 4] as u64) << 32
                | (file[i + 5] as u64) << 40
                | (file[i + 6] as u64) << 48
                | (file[i + 7] as u64) << 56
        )),
        Dtype::F16 => columns!(f64, file, start, 2, cols, first, |i| f16_to_f64(le16(
            file, i
        ))),
        Dtype::BF16 => columns!(f64, file, start, 2, cols, first, |i| f32::from_bits(
            (le16(file, i) as u32) << 16
        ) as f64),
    }
}

/// `out` with its columns `first .. first + N` replaced by `part`: the
/// parts of a large tensor joined (one copy of whole columns, however many
/// values they hold).
pub const fn with_columns<T: Copy, const R: usize, const C: usize, const N: usize>(
    mut out: [[T; R]; C],
    part: &[[T; R]; N],
    first: usize,
) -> [[T; R]; C] {
    const { assert!(N <= C, "a part has more columns than its tensor") };
    let (_, tail) = out.split_at_mut(first);
    let (into, _) = tail.split_at_mut(N);
    into.copy_from_slice(part);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row-major [2, 3] tensor of `values` in `dtype`, after a 5-byte
    /// prefix (an odd offset, as in a file), as bytes.
    fn file(values: &[u64], width: usize) -> ([u8; 64], usize) {
        let mut f = [0xAAu8; 64];
        for (k, v) in values.iter().enumerate() {
            f[5 + k * width..5 + (k + 1) * width].copy_from_slice(&v.to_le_bytes()[..width]);
        }
        (f, 5)
    }

    #[test]
    fn f32_row_major_into_columns_bit_for_bit() {
        let v = [1.5f32, -0.0, f32::MIN_POSITIVE / 8.0, 3.25, f32::MAX, -7.0];
        let bits: [u64; 6] = v.map(|x| x.to_bits() as u64);
        let (f, start) = file(&bits, 4);
        let m: [[f32; 2]; 3] = f32_columns::<2, 3>(&f, start, Dtype::F32, 3, 0);
        // storage [c][r] = file[r * 3 + c].
        let want = [[v[0], v[3]], [v[1], v[4]], [v[2], v[5]]];
        assert_eq!(
            m.map(|c| c.map(f32::to_bits)),
            want.map(|c| c.map(f32::to_bits))
        );
        // Columns 1..3 only.
        let p: [[f32; 2]; 2] = f32_columns::<2, 2>(&f, start, Dtype::F32, 3, 1);
        assert_eq!(
            p.map(|c| c.map(f32::to_bits)),
            [want[1], want[2]].map(|c| c.map(f32::to_bits))
        );
        // As f64: widened exactly.
        let d: [[f64; 2]; 3] = f64_columns::<2, 3>(&f, start, Dtype::F32, 3, 0);
        assert_eq!(d, want.map(|c| c.map(f64::from)));
    }

    #[test]
    fn f64_file_exact_as_f64_and_rounded_to_nearest_as_f32() {
        // 1 + 2^-30 rounds to 1 in f32; 1 + 2^-23 + 2^-24 is a tie that
        // rounds to even, 1 + 2^-22.
        let v = [
            1.0 + 2f64.powi(-30),
            1.0 + 2f64.powi(-23) + 2f64.powi(-24),
            -1e300,
            0.1,
            5e-324,
            -2.5,
        ];
        let (f, start) = {
            let mut f = [0u8; 64];
            for (k, x) in v.iter().enumerate() {
                f[3 + 8 * k..3 + 8 * k + 8].copy_from_slice(&x.to_le_bytes());
            }
            (f, 3)
        };
        let d: [[f64; 2]; 3] = f64_columns::<2, 3>(&f, start, Dtype::F64, 3, 0);
        assert_eq!(d, [[v[0], v[3]], [v[1], v[4]], [v[2], v[5]]]);
        let s: [[f32; 2]; 3] = f32_columns::<2, 3>(&f, start, Dtype::F64, 3, 0);
        assert_eq!(s[0][0], 1.0);
        assert_eq!(s[1][0], 1.0 + 2f32.powi(-22));
        assert_eq!(s[2][0], f32::NEG_INFINITY);
        assert_eq!(s[0][1], 0.1f32);
        assert_eq!(s[1][1].to_bits(), 0);
        assert_eq!(s[2][1], -2.5);
    }

    #[test]
    fn f16_and_bf16_exactly() {
        // binary16: 1.0, -2.0, the smallest subnormal 2^-24, the largest
        // finite 65504, -infinity, 0.5.
        let h: [u64; 6] = [0x3c00, 0xc000, 0x0001, 0x7bff, 0xfc00, 0x3800];
        let (f, start) = file(&h, 2);
        let d: [[f64; 2]; 3] = f64_columns::<2, 3>(&f, start, Dtype::F16, 3, 0);
        let want = [1.0, -2.0, 2f64.powi(-24), 65504.0, f64::NEG_INFINITY, 0.5];
        assert_eq!(
            d,
            [[want[0], want[3]], [want[1], want[4]], [want[2], want[5]]]
        );
        assert!(f16_to_f64(0x7e00).is_nan());
        // bfloat16: the upper half of a binary32.
        let b: [u64; 6] = [0x3f80, 0xc040, 0x0001, 0x7f7f, 0xff80, 0x3e20];
        let (f, start) = file(&b, 2);
        let s: [[f32; 2]; 3] = f32_columns::<2, 3>(&f, start, Dtype::BF16, 3, 0);
        let want = b.map(|x| f32::from_bits((x as u32) << 16));
        assert_eq!(
            s,
            [[want[0], want[3]], [want[1], want[4]], [want[2], want[5]]]
        );
        assert_eq!(want[0], 1.0);
        assert_eq!(want[1], -3.0);
    }

    #[test]
    fn parts_join_into_the_whole() {
        let bits: [u64; 6] = [1, 2, 3, 4, 5, 6].map(|x: u32| (x as f32).to_bits() as u64);
        let (f, start) = file(&bits, 4);
        const fn join(f: &[u8], start: usize) -> [[f32; 2]; 3] {
            let a = f32_columns::<2, 2>(f, start, Dtype::F32, 3, 0);
            let b = f32_columns::<2, 1>(f, start, Dtype::F32, 3, 2);
            let out = with_columns([[0.0; 2]; 3], &a, 0);
            with_columns(out, &b, 2)
        }
        assert_eq!(
            join(&f, start),
            f32_columns::<2, 3>(&f, start, Dtype::F32, 3, 0)
        );
        assert_eq!(join(&f, start), [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]);
    }

    /// Decoded in a `const`, as the generated code does.
    #[test]
    fn in_const_position() {
        const F: &[u8] = &[0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0];
        const M: [[f32; 1]; 2] = f32_columns::<1, 2>(F, 0, Dtype::F32, 2, 0);
        static S: [[f32; 1]; 2] = M;
        assert_eq!(S, [[1.0], [-2.0]]);
    }
}
