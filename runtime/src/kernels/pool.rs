//! `MaxPool2d` and `AvgPool2d` (no padding, floor: a ragged edge is dropped,
//! as in Keras and PyTorch).

use crate::{Float, Image};

/// Max pooling with window `KH×KW` and stride `SH×SW`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn max_pool2d<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &Image<T, C, H, W>,
) -> Image<T, C, OH, OW> {
    const {
        assert!(
            OH >= 1 && (OH - 1) * SH + KH <= H,
            "max_pool2d: window rows out of range"
        );
        assert!(
            OW >= 1 && (OW - 1) * SW + KW <= W,
            "max_pool2d: window columns out of range"
        );
    };
    let mut y = [[[T::zero(); OW]; OH]; C];
    for c in 0..C {
        for i in 0..OH {
            for j in 0..OW {
                let mut m = x[c][i * SH][j * SW];
                for ki in 0..KH {
                    for kj in 0..KW {
                        let v = x[c][i * SH + ki][j * SW + kj];
                        if v > m {
                            m = v;
                        }
                    }
                }
                y[c][i][j] = m;
            }
        }
    }
    y
}

/// Average pooling with window `KH×KW` and stride `SH×SW`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn avg_pool2d<
    T: Float,
    const C: usize,
    const H: usize,
    const W: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const OH: usize,
    const OW: usize,
>(
    x: &Image<T, C, H, W>,
) -> Image<T, C, OH, OW> {
    const {
        assert!(
            OH >= 1 && (OH - 1) * SH + KH <= H,
            "avg_pool2d: window rows out of range"
        );
        assert!(
            OW >= 1 && (OW - 1) * SW + KW <= W,
            "avg_pool2d: window columns out of range"
        );
    };
    let scale = T::one() / T::of_f64((KH * KW) as f64);
    let mut y = [[[T::zero(); OW]; OH]; C];
    for c in 0..C {
        for i in 0..OH {
            for j in 0..OW {
                let mut s = T::zero();
                for ki in 0..KH {
                    for kj in 0..KW {
                        s += x[c][i * SH + ki][j * SW + kj];
                    }
                }
                y[c][i][j] = s * scale;
            }
        }
    }
    y
}
