//! Parameter blocks of the layers that have parameters.
//!
//! Each block holds nalgebra matrices whose row-major reading is the PyTorch
//! tensor of the same name: a PyTorch `[rows, rest…]` tensor is stored as an
//! `SMatrix<T, rows, product(rest)>` (nalgebra stores it column-major, so
//! consecutive values in memory walk down a column; the kernels loop in that
//! order). Gradients have the same type as the parameters.

use crate::init::Rng;
use crate::Float;
use nalgebra::{SMatrix, SVector};

/// `Dense(O)` on `I` inputs: `y = W x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct DenseParams<T: Float, const I: usize, const O: usize> {
    /// `weight` `[O, I]`.
    pub weight: SMatrix<T, O, I>,
    /// `bias` `[O]`.
    pub bias: SVector<T, O>,
}

/// `Conv2d(O)` with `K = in_channels · kh · kw` weights per filter.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dParams<T: Float, const O: usize, const K: usize> {
    /// `weight` `[O, C, KH, KW]`, stored as `[O, C·KH·KW]`.
    pub weight: SMatrix<T, O, K>,
    /// `bias` `[O]`.
    pub bias: SVector<T, O>,
}

/// A recurrent layer with `F` inputs, `H` units and `GH = gates · H` gate
/// rows (1 for SimpleRnn, 4 for Lstm in the order i, f, g, o, 3 for Gru in
/// the order r, z, n), as PyTorch's `nn.RNN`, `nn.LSTM` and `nn.GRU`.
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentParams<T: Float, const F: usize, const H: usize, const GH: usize> {
    /// `weight_ih_l0` `[GH, F]`.
    pub weight_ih: SMatrix<T, GH, F>,
    /// `weight_hh_l0` `[GH, H]`.
    pub weight_hh: SMatrix<T, GH, H>,
    /// `bias_ih_l0` `[GH]`.
    pub bias_ih: SVector<T, GH>,
    /// `bias_hh_l0` `[GH]`.
    pub bias_hh: SVector<T, GH>,
}

impl<T: Float, const I: usize, const O: usize> DenseParams<T, I, O> {
    /// All zeros (the gradient accumulator's starting point).
    pub fn zeros() -> Self {
        Self {
            weight: SMatrix::zeros(),
            bias: SVector::zeros(),
        }
    }
    /// Keras' defaults: glorot-uniform weight, zero bias.
    pub fn init_keras(&mut self, rng: &mut Rng) {
        rng.glorot_uniform(self.weight.as_mut_slice(), I, O);
        self.bias.fill(T::zero());
    }
}

impl<T: Float, const O: usize, const K: usize> Conv2dParams<T, O, K> {
    /// All zeros.
    pub fn zeros() -> Self {
        Self {
            weight: SMatrix::zeros(),
            bias: SVector::zeros(),
        }
    }
    /// Keras' defaults: glorot-uniform weight with fan-in `C·KH·KW` and
    /// fan-out `O·KH·KW` (`window = KH·KW`), zero bias.
    pub fn init_keras(&mut self, rng: &mut Rng, window: usize) {
        rng.glorot_uniform(self.weight.as_mut_slice(), K, O * window);
        self.bias.fill(T::zero());
    }
}

impl<T: Float, const F: usize, const H: usize, const GH: usize> RecurrentParams<T, F, H, GH> {
    /// All zeros.
    pub fn zeros() -> Self {
        Self {
            weight_ih: SMatrix::zeros(),
            weight_hh: SMatrix::zeros(),
            bias_ih: SVector::zeros(),
            bias_hh: SVector::zeros(),
        }
    }
    /// Keras' defaults: glorot-uniform input kernel over all gates (fan-in
    /// `F`, fan-out `GH`), orthogonal recurrent kernel over all gates, zero
    /// biases; with `forget_bias_one` (LSTM) the forget gate's bias is 1
    /// (put in `bias_ih`, `bias_hh` stays 0, so their sum is Keras' bias).
    pub fn init_keras(&mut self, rng: &mut Rng, forget_bias_one: bool) {
        rng.glorot_uniform(self.weight_ih.as_mut_slice(), F, GH);
        rng.orthogonal(&mut self.weight_hh);
        self.bias_ih.fill(T::zero());
        self.bias_hh.fill(T::zero());
        if forget_bias_one {
            for v in self.bias_ih.as_mut_slice()[H..2 * H].iter_mut() {
                *v = T::one();
            }
        }
    }
}

/// `Conv1d(O)` with `K = (in_channels / groups) · kernel` weights per
/// filter and `B` biases: `O`, or 0 with `bias = false`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1dParams<T: Float, const O: usize, const K: usize, const B: usize> {
    /// `weight` `[O, F/G, KW]`, stored as `[O, (F/G)·KW]`: column
    /// `c·KW + j` holds tap `j` of input channel `c` (of the filter's
    /// group) for every filter.
    pub weight: SMatrix<T, O, K>,
    /// `bias` `[O]` (empty without a bias).
    pub bias: SVector<T, B>,
}

impl<T: Float, const O: usize, const K: usize, const B: usize> Conv1dParams<T, O, K, B> {
    /// All zeros.
    pub fn zeros() -> Self {
        Self {
            weight: SMatrix::zeros(),
            bias: SVector::zeros(),
        }
    }
    /// Keras' defaults: glorot-uniform weight with fan-in `(F/G)·KW` and
    /// fan-out `O·KW` (`window = KW`), zero bias.
    pub fn init_keras(&mut self, rng: &mut Rng, window: usize) {
        rng.glorot_uniform(self.weight.as_mut_slice(), K, O * window);
        self.bias.fill(T::zero());
    }
}
