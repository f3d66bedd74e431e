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

/// `BatchNorm` over `C` channels (of an image) or features (of a vector or
/// a sequence), as PyTorch's `BatchNorm1d`/`BatchNorm2d`. In evaluation
/// mode `y = γ (x − running_mean)/√(running_var + ε) + β`.
///
/// `weight` (γ) and `bias` (β) are trainable parameters; `running_mean`,
/// `running_var` and `num_batches_tracked` are buffers: loaded and saved
/// with the model (`Model::visit_buffers`), never touched by an optimizer.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormParams<T: Float, const C: usize> {
    /// `weight` `[C]` (γ).
    pub weight: SVector<T, C>,
    /// `bias` `[C]` (β).
    pub bias: SVector<T, C>,
    /// `running_mean` `[C]` (buffer).
    pub running_mean: SVector<T, C>,
    /// `running_var` `[C]` (buffer).
    pub running_var: SVector<T, C>,
    /// `num_batches_tracked` `[]`, PyTorch's I64 (buffer).
    pub num_batches_tracked: i64,
}

impl<T: Float, const C: usize> BatchNormParams<T, C> {
    /// All zeros (the gradient accumulator's starting point; as a model,
    /// call [`BatchNormParams::init_keras`] to get a unit variance).
    pub fn zeros() -> Self {
        Self {
            weight: SVector::zeros(),
            bias: SVector::zeros(),
            running_mean: SVector::zeros(),
            running_var: SVector::zeros(),
            num_batches_tracked: 0,
        }
    }
    /// Keras' and PyTorch's defaults: γ = 1, β = 0, running mean 0,
    /// running variance 1, no batches tracked. Draws nothing from `rng`.
    pub fn init_keras(&mut self, _rng: &mut Rng) {
        self.weight.fill(T::one());
        self.bias.fill(T::zero());
        self.running_mean.fill(T::zero());
        self.running_var.fill(T::one());
        self.num_batches_tracked = 0;
    }
}

/// `Conv2d(O, bias = false)` (and `DepthwiseConv2d(bias = false)`): the
/// weight of [`Conv2dParams`] without the bias, as PyTorch's
/// `Conv2d(.., bias=False)` has no `bias` tensor.
///
/// A type of its own rather than a `const BIAS: bool` on
/// [`Conv2dParams`]: the block holds exactly the tensors the `state_dict`
/// has (no zero-length `bias` to visit, load or save), a compiled-in
/// `#[weights]` literal names exactly its members, and every existing
/// `Conv2dParams<T, O, K>` keeps its type.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dNoBiasParams<T: Float, const O: usize, const K: usize> {
    /// `weight` `[O, C/groups, KH, KW]`, stored as `[O, C/groups·KH·KW]`.
    pub weight: SMatrix<T, O, K>,
}

/// `Dense(O, bias = false)` on `I` inputs: `y = W x`, PyTorch's
/// `Linear(.., bias=False)` (a type of its own for the reasons given at
/// [`Conv2dNoBiasParams`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DenseNoBiasParams<T: Float, const I: usize, const O: usize> {
    /// `weight` `[O, I]`.
    pub weight: SMatrix<T, O, I>,
}

/// A convolution's parameter block, with ([`Conv2dParams`]) or without
/// ([`Conv2dNoBiasParams`]) a bias: `O` filters of `K` weights each. The
/// grouped, dilated and depthwise kernels are generic over it.
pub trait ConvBlock<T: Float, const O: usize, const K: usize> {
    /// `weight` `[O, K]`.
    fn weight(&self) -> &SMatrix<T, O, K>;
    /// `weight` `[O, K]`, mutable (a gradient accumulator).
    fn weight_mut(&mut self) -> &mut SMatrix<T, O, K>;
    /// `bias` `[O]`, if the block has one.
    fn bias(&self) -> Option<&SVector<T, O>>;
    /// `bias` `[O]`, mutable, if the block has one.
    fn bias_mut(&mut self) -> Option<&mut SVector<T, O>>;
}

impl<T: Float, const O: usize, const K: usize> ConvBlock<T, O, K> for Conv2dParams<T, O, K> {
    fn weight(&self) -> &SMatrix<T, O, K> {
        &self.weight
    }
    fn weight_mut(&mut self) -> &mut SMatrix<T, O, K> {
        &mut self.weight
    }
    fn bias(&self) -> Option<&SVector<T, O>> {
        Some(&self.bias)
    }
    fn bias_mut(&mut self) -> Option<&mut SVector<T, O>> {
        Some(&mut self.bias)
    }
}

impl<T: Float, const O: usize, const K: usize> ConvBlock<T, O, K> for Conv2dNoBiasParams<T, O, K> {
    fn weight(&self) -> &SMatrix<T, O, K> {
        &self.weight
    }
    fn weight_mut(&mut self) -> &mut SMatrix<T, O, K> {
        &mut self.weight
    }
    fn bias(&self) -> Option<&SVector<T, O>> {
        None
    }
    fn bias_mut(&mut self) -> Option<&mut SVector<T, O>> {
        None
    }
}

impl<T: Float, const O: usize, const K: usize> Conv2dParams<T, O, K> {
    /// Glorot-uniform weight with the given fans, zero bias: Keras'
    /// `DepthwiseConv2D` defaults, whose kernel `[kh, kw, c, m]` has fan-in
    /// `kh·kw·c` and fan-out `kh·kw·m` (Keras reads the last two axes as
    /// the feature maps, although each output sees only `kh·kw` inputs).
    pub fn init_glorot(&mut self, rng: &mut Rng, fan_in: usize, fan_out: usize) {
        rng.glorot_uniform(self.weight.as_mut_slice(), fan_in, fan_out);
        self.bias.fill(T::zero());
    }
}

impl<T: Float, const O: usize, const K: usize> Conv2dNoBiasParams<T, O, K> {
    /// All zeros.
    pub fn zeros() -> Self {
        Self {
            weight: SMatrix::zeros(),
        }
    }
    /// Keras' defaults: glorot-uniform weight with fan-in `K` (`C/groups·KH·KW`)
    /// and fan-out `O·KH·KW` (`window = KH·KW`).
    pub fn init_keras(&mut self, rng: &mut Rng, window: usize) {
        rng.glorot_uniform(self.weight.as_mut_slice(), K, O * window);
    }
    /// Glorot-uniform weight with the given fans (see
    /// [`Conv2dParams::init_glorot`]).
    pub fn init_glorot(&mut self, rng: &mut Rng, fan_in: usize, fan_out: usize) {
        rng.glorot_uniform(self.weight.as_mut_slice(), fan_in, fan_out);
    }
}

impl<T: Float, const I: usize, const O: usize> DenseNoBiasParams<T, I, O> {
    /// All zeros.
    pub fn zeros() -> Self {
        Self {
            weight: SMatrix::zeros(),
        }
    }
    /// Keras' defaults: glorot-uniform weight (fan-in `I`, fan-out `O`).
    pub fn init_keras(&mut self, rng: &mut Rng) {
        rng.glorot_uniform(self.weight.as_mut_slice(), I, O);
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
