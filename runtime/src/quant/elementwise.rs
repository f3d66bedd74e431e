//! int8 `Relu`/`Relu6` as clamps, and `Flatten`/`Reshape`.
//!
//! A ReLU or ReLU6 that TFLite fused into the layer before it is that
//! layer's [`OutputStage`](super::OutputStage) range; a standalone one
//! whose input and output share scale and zero point (what the TFLite
//! converter writes when it cannot fuse) is a clamp to
//! `[zero_point, 127]` or `[zero_point, zero_point + round(6 / scale)]`,
//! which [`clamp_int8_into`] applies. `Flatten` and `Reshape` move no
//! value: in our `[C, H, W]` layout the flat order already is PyTorch's.
//! (TFLite's `RESHAPE` flattens NHWC; where that order differs from ours
//! — a spatial map larger than 1×1 — the converter permutes the next
//! `Dense` layer's columns instead.)

use super::clamp_i8;

/// `x` clamped to `[min, max]`, into `y`.
#[inline]
pub fn clamp_int8_into(x: &[i8], min: i8, max: i8, y: &mut [i8]) {
    for (yv, &v) in y.iter_mut().zip(x) {
        *yv = clamp_i8(v as i32, min, max);
    }
}

/// An int8 image `[C, H, W]` flattened to `[C·H·W]` in PyTorch order (`N`
/// must be `C·H·W`).
#[inline]
pub fn flatten_int8<const C: usize, const H: usize, const W: usize, const N: usize>(
    x: &[[[i8; W]; H]; C],
) -> [i8; N] {
    const { assert!(N == C * H * W, "flatten_int8: N must be C * H * W") };
    let mut y = [0; N];
    for (d, &s) in y.iter_mut().zip(x.as_flattened().as_flattened()) {
        *d = s;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu6_clamp_and_flatten() {
        // Zero point −10, scale 0.1: ReLU6 is [−10, −10 + 60] = [−10, 50].
        let mut y = [0i8; 4];
        clamp_int8_into(&[-128, -10, 30, 127], -10, 50, &mut y);
        assert_eq!(y, [-10, -10, 30, 50]);
        assert_eq!(
            flatten_int8::<2, 1, 2, 4>(&[[[1, 2]], [[3, 4]]]),
            [1, 2, 3, 4]
        );
    }
}
