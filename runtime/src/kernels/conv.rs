//! `Conv2d`: cross-correlation as PyTorch's `nn.Conv2d`, with zero padding.

use crate::{Activation, Conv2dParams, Float, Image};

/// `Conv2d` forward: `[C, H, W]` → `[O, OH, OW]`.
///
/// `PT`/`PL` are the zero rows/columns added at the top/left; the bottom and
/// right padding is whatever `OH`/`OW` imply (TensorFlow's `same` puts the
/// odd extra row and column there). `K` must be `C·KH·KW`.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn conv2d<
    T: Float,
    A: Activation,
    const C: usize,
    const H: usize,
    const W: usize,
    const O: usize,
    const KH: usize,
    const KW: usize,
    const SH: usize,
    const SW: usize,
    const PT: usize,
    const PL: usize,
    const OH: usize,
    const OW: usize,
    const K: usize,
>(
    p: &Conv2dParams<T, O, K>,
    x: &Image<T, C, H, W>,
) -> Image<T, O, OH, OW> {
    const {
        assert!(K == C * KH * KW, "conv2d: K must be C * KH * KW");
        assert!(SH > 0 && SW > 0, "conv2d: strides must be positive");
    };
    let mut y = [[[T::zero(); OW]; OH]; O];
    let w = p.weight.as_slice();
    for o in 0..O {
        let b = p.bias[o];
        for i in 0..OH {
            let mut acc = [b; OW];
            for c in 0..C {
                for ki in 0..KH {
                    // Input row, or none inside the zero padding.
                    let hi = (i * SH + ki).wrapping_sub(PT);
                    if hi >= H {
                        continue;
                    }
                    let row = &x[c][hi];
                    for kj in 0..KW {
                        let wk = w[((c * KH + ki) * KW + kj) * O + o];
                        for (j, a) in acc.iter_mut().enumerate() {
                            let wi = (j * SW + kj).wrapping_sub(PL);
                            if wi < W {
                                *a += wk * row[wi];
                            }
                        }
                    }
                }
            }
            y[o][i] = acc;
        }
    }
    if A::ELEMENTWISE {
        A::apply(y.as_flattened_mut().as_flattened_mut());
    } else {
        y = crate::kernels::activate_image::<T, A, O, OH, OW>(y);
    }
    y
}
