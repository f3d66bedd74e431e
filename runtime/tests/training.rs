//! Training: optimizers against PyTorch, the loss/backward composition
//! against finite differences, train_step, fit, evaluate and predict, on
//! small hand-written models.

use staticnet_runtime::activation::{Activation, Linear, Relu, Sigmoid, Softmax, Tanh};
use staticnet_runtime::fit::{evaluate, fit, fit_to, predict, FitConfig, History, Validation};
use staticnet_runtime::kernels::{dense, dense_backward};
use staticnet_runtime::loss::{
    BinaryCrossEntropy, CategoricalCrossEntropy, ClippedBinaryCrossEntropy, Loss, MeanSquaredError,
    SparseCategoricalCrossEntropy, Wrt,
};
use staticnet_runtime::metrics::{BinaryAccuracy, NoMetric, SparseCategoricalAccuracy};
use staticnet_runtime::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, Optimizer, RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
use staticnet_runtime::train::{train_step, TrainError, Trainer};
use staticnet_runtime::{
    DenseParams, Float, LayerInfo, Model, OutputActivation, Param, ParamMut, Rng, SVector, Tensor,
    Train,
};

// ---------------------------------------------------------------------------
// A hand-written model: x[I] → Dense(H, tanh) → Dense(O, A).

trait Head: Activation {
    const OUT: OutputActivation;
}
impl Head for Linear {
    const OUT: OutputActivation = OutputActivation::Linear;
}
impl Head for Sigmoid {
    const OUT: OutputActivation = OutputActivation::Sigmoid;
}
impl Head for Softmax {
    const OUT: OutputActivation = OutputActivation::Softmax;
}
impl Head for Relu {
    const OUT: OutputActivation = OutputActivation::Relu;
}

#[derive(Clone, Debug, PartialEq)]
struct Mlp<A, const I: usize, const H: usize, const O: usize> {
    l1: DenseParams<f64, I, H>,
    l2: DenseParams<f64, H, O>,
    _a: core::marker::PhantomData<A>,
}

// SAFETY: two `DenseParams<f64, ..>` (Zeroable) and a `PhantomData`.
unsafe impl<A, const I: usize, const H: usize, const O: usize> staticnet_runtime::Zeroable
    for Mlp<A, I, H, O>
{
}

struct MlpTape<const I: usize, const H: usize, const O: usize> {
    x: SVector<f64, I>,
    h: SVector<f64, H>,
    z: SVector<f64, O>,
    y: SVector<f64, O>,
}

impl<A: Head, const I: usize, const H: usize, const O: usize> Mlp<A, I, H, O> {
    const W1: &'static [usize] = &[H, I];
    const B1: &'static [usize] = &[H];
    const W2: &'static [usize] = &[O, H];
    const B2: &'static [usize] = &[O];
    fn init(seed: u64) -> Self {
        let mut m = Self::zeros();
        m.init_in(seed);
        m
    }
    fn flat(&self) -> Vec<f64> {
        (0..Self::TENSORS)
            .flat_map(|i| self.tensor(i).to_vec())
            .collect()
    }
}

impl<A: Head, const I: usize, const H: usize, const O: usize> Model<f64> for Mlp<A, I, H, O> {
    type Input = SVector<f64, I>;
    type Output = SVector<f64, O>;
    const NAME: &'static str = "Mlp";
    const INPUT_SHAPE: &'static [usize] = &[I];
    const LAYERS: &'static [LayerInfo] = &[];
    const PARAMS: usize = H * I + H + O * H + O;
    const ACTIVATION_VALUES: usize = I + 2 * H + O;
    const TENSORS: usize = 4;
    fn zeros() -> Self {
        Mlp {
            l1: DenseParams::zeros(),
            l2: DenseParams::zeros(),
            _a: core::marker::PhantomData,
        }
    }
    fn forward(&self, x: &Self::Input) -> Self::Output {
        let h = dense::<f64, Tanh, I, H>(&self.l1, x);
        dense::<f64, A, H, O>(&self.l2, &h)
    }
    fn visit_params<'a>(&'a self, f: &mut dyn FnMut(Param<'a, f64>)) {
        f(Param::new("l1.weight", Self::W1, &self.l1.weight));
        f(Param::new("l1.bias", Self::B1, &self.l1.bias));
        f(Param::new("l2.weight", Self::W2, &self.l2.weight));
        f(Param::new("l2.bias", Self::B2, &self.l2.bias));
    }
    fn visit_params_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, f64>)) {
        f(ParamMut::new("l1.weight", Self::W1, &mut self.l1.weight));
        f(ParamMut::new("l1.bias", Self::B1, &mut self.l1.bias));
        f(ParamMut::new("l2.weight", Self::W2, &mut self.l2.weight));
        f(ParamMut::new("l2.bias", Self::B2, &mut self.l2.bias));
    }
    fn tensor(&self, i: usize) -> &[f64] {
        match i {
            0 => self.l1.weight.as_slice(),
            1 => self.l1.bias.as_slice(),
            2 => self.l2.weight.as_slice(),
            3 => self.l2.bias.as_slice(),
            _ => &[],
        }
    }
    fn tensor_mut(&mut self, i: usize) -> &mut [f64] {
        match i {
            0 => self.l1.weight.as_mut_slice(),
            1 => self.l1.bias.as_mut_slice(),
            2 => self.l2.weight.as_mut_slice(),
            3 => self.l2.bias.as_mut_slice(),
            _ => &mut [],
        }
    }
    fn init_in(&mut self, seed: u64) {
        let mut rng = Rng::new(seed);
        self.l1.init_keras(&mut rng);
        self.l2.init_keras(&mut rng);
        // Non-zero biases so their gradients are exercised.
        for v in self.l1.bias.iter_mut().chain(self.l2.bias.iter_mut()) {
            *v = 0.1 * rng.normal();
        }
    }
}

impl<A: Head, const I: usize, const H: usize, const O: usize> Mlp<A, I, H, O> {
    fn back<B: Activation>(
        &self,
        tape: &MlpTape<I, H, O>,
        dy: &SVector<f64, O>,
        grads: &mut Self,
    ) -> SVector<f64, I> {
        let dh = dense_backward::<f64, B, H, O>(&self.l2, &tape.h, &tape.y, dy, &mut grads.l2);
        dense_backward::<f64, Tanh, I, H>(&self.l1, &tape.x, &tape.h, &dh, &mut grads.l1)
    }
}

impl<A: Head, const I: usize, const H: usize, const O: usize> Train<f64> for Mlp<A, I, H, O> {
    type Tape = MlpTape<I, H, O>;
    const OUTPUT_ACTIVATION: OutputActivation = A::OUT;
    fn new_tape() -> Self::Tape {
        MlpTape {
            x: SVector::zeros(),
            h: SVector::zeros(),
            z: SVector::zeros(),
            y: SVector::zeros(),
        }
    }
    fn forward_train(&self, x: &Self::Input, tape: &mut Self::Tape) -> Self::Output {
        tape.x = *x;
        tape.h = dense::<f64, Tanh, I, H>(&self.l1, x);
        tape.z = dense::<f64, Linear, H, O>(&self.l2, &tape.h);
        tape.y = dense::<f64, A, H, O>(&self.l2, &tape.h);
        tape.y
    }
    fn logits(tape: &Self::Tape) -> Self::Output {
        tape.z
    }
    fn backward(&self, tape: &Self::Tape, dy: &Self::Output, grads: &mut Self) -> Self::Input {
        self.back::<A>(tape, dy, grads)
    }
    fn backward_logits(
        &self,
        tape: &Self::Tape,
        dz: &Self::Output,
        grads: &mut Self,
    ) -> Self::Input {
        self.back::<Linear>(tape, dz, grads)
    }
}

type Binary = Mlp<Sigmoid, 2, 4, 1>;

/// `n` points of two Gaussian blobs in 2-D, labelled by which side of the
/// line x0 + x1 = 0 they are on (linearly separable).
fn blobs(n: usize, seed: u64) -> (Vec<SVector<f64, 2>>, Vec<SVector<f64, 1>>) {
    let mut rng = Rng::new(seed);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let c = if i % 2 == 0 { 1.0 } else { -1.0 };
        x.push(SVector::from([
            c * 1.5 + 0.5 * rng.normal(),
            c * 1.5 + 0.5 * rng.normal(),
        ]));
        y.push(SVector::from([if c > 0.0 { 1.0 } else { 0.0 }]));
    }
    (x, y)
}

// ---------------------------------------------------------------------------
// Optimizers against PyTorch (tests/fixtures/optim_*.safetensors, made by
// tools/make_optim_fixtures.py).

/// Three parameter tensors of 12, 3 and 10 values.
#[derive(Clone, Debug)]
struct Flat3 {
    t: [Vec<f64>; 3],
}

const FLAT3_LEN: [usize; 3] = [12, 3, 10];

impl Model<f64> for Flat3 {
    type Input = SVector<f64, 1>;
    type Output = SVector<f64, 1>;
    const NAME: &'static str = "Flat3";
    const INPUT_SHAPE: &'static [usize] = &[1];
    const LAYERS: &'static [LayerInfo] = &[];
    const PARAMS: usize = 25;
    const ACTIVATION_VALUES: usize = 2;
    const TENSORS: usize = 3;
    fn zeros() -> Self {
        Flat3 {
            t: FLAT3_LEN.map(|n| vec![0.0; n]),
        }
    }
    fn forward(&self, x: &Self::Input) -> Self::Output {
        *x
    }
    fn visit_params<'a>(&'a self, _f: &mut dyn FnMut(Param<'a, f64>)) {}
    fn visit_params_mut<'a>(&'a mut self, _f: &mut dyn FnMut(ParamMut<'a, f64>)) {}
    fn tensor(&self, i: usize) -> &[f64] {
        self.t.get(i).map_or(&[], |v| v.as_slice())
    }
    fn tensor_mut(&mut self, i: usize) -> &mut [f64] {
        match self.t.get_mut(i) {
            Some(v) => v.as_mut_slice(),
            None => &mut [],
        }
    }
    fn init_in(&mut self, _seed: u64) {}
}

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn read_f64(st: &safetensors::SafeTensors<'_>, name: &str) -> Vec<f64> {
    let t = st
        .tensor(name)
        .unwrap_or_else(|e| panic!("tensor {name}: {e}"));
    assert_eq!(t.dtype(), safetensors::Dtype::F64, "{name}");
    t.data()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn flat3(st: &safetensors::SafeTensors<'_>, key: &str) -> Flat3 {
    Flat3 {
        t: [0, 1, 2].map(|i| read_f64(st, &format!("p{i}.{key}"))),
    }
}

/// One table-driven runner over every optimizer fixture: builds the
/// optimizer from the file's metadata, replays the gradients and compares
/// the parameters after every step, reporting the first index that
/// differs.
#[test]
fn optimizers_match_pytorch() {
    const TOL: f64 = 1e-10;
    let mut files: Vec<_> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("optim_") && n.ends_with(".safetensors"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 9, "optimizer fixtures missing: {files:?}");
    let mut checked = Vec::new();
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let meta = meta.metadata().clone().expect("metadata");
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let num = |k: &str| -> f64 {
            meta.get(k)
                .unwrap_or_else(|| panic!("{path:?}: no {k}"))
                .parse()
                .unwrap()
        };
        let flag = |k: &str| meta.get(k).map(String::as_str) == Some("true");
        let mut opt: Box<dyn Optimizer<f64, Flat3>> = match meta["optimizer"].as_str() {
            "sgd" => Box::new(Sgd::<Flat3>::new(SgdConfig {
                lr: num("lr"),
                momentum: num("momentum"),
                dampening: num("dampening"),
                nesterov: flag("nesterov"),
                weight_decay: num("weight_decay"),
            })),
            "adam" => Box::new(Adam::<Flat3>::new(AdamConfig {
                lr: num("lr"),
                beta1: num("beta1"),
                beta2: num("beta2"),
                eps: num("eps"),
                weight_decay: num("weight_decay"),
            })),
            "adamw" => Box::new(AdamW::<Flat3>::new(AdamWConfig {
                lr: num("lr"),
                beta1: num("beta1"),
                beta2: num("beta2"),
                eps: num("eps"),
                weight_decay: num("weight_decay"),
            })),
            "rmsprop" => Box::new(RmsProp::<Flat3>::new(RmsPropConfig {
                lr: num("lr"),
                rho: num("rho"),
                eps: num("eps"),
                momentum: num("momentum"),
                centered: flag("centered"),
                weight_decay: num("weight_decay"),
            })),
            other => panic!("{path:?}: unknown optimizer {other}"),
        };
        let mut p = flat3(&st, "init");
        let steps: usize = meta["steps"].parse().unwrap();
        for s in 1..=steps {
            let g = flat3(&st, &format!("grad{s}"));
            opt.step(&mut p, &g);
            let want = flat3(&st, &format!("step{s}"));
            for i in 0..3 {
                for (k, (a, b)) in p.t[i].iter().zip(&want.t[i]).enumerate() {
                    assert!(
                        (a - b).abs() <= TOL,
                        "{}: step {s}, tensor p{i}, index {k}: ours {a:e}, PyTorch {b:e}",
                        path.display()
                    );
                }
            }
        }
        checked.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(checked.iter().any(|n| n.contains("adam")));
    assert!(checked.iter().any(|n| n.contains("adamw_custom")));
    // AdamW validates as torch.optim.AdamW does.
    let d = AdamWConfig::default();
    assert!(d.validate().is_ok());
    assert!(AdamWConfig { beta1: 1.0, ..d }.validate().is_err());
    assert!(AdamWConfig {
        weight_decay: -0.1,
        ..d
    }
    .validate()
    .is_err());
    assert!(AdamWConfig { lr: f64::NAN, ..d }.validate().is_err());
}

#[test]
fn optimizer_reset_and_learning_rate() {
    let mut p = Flat3::zeros();
    let g = Flat3 {
        t: FLAT3_LEN.map(|n| vec![1.0; n]),
    };
    let mut adam = Adam::<Flat3>::new(AdamConfig::default());
    adam.step(&mut p, &g);
    // Adam's first step moves every parameter by lr (up to ε).
    assert!(p.t[0].iter().all(|&v| (v + 0.001).abs() < 1e-9));
    assert_eq!(adam.steps(), 1);
    Optimizer::<f64, Flat3>::reset(&mut *adam_ref(&mut adam));
    assert_eq!(adam.steps(), 0);
    assert!(adam.moments().0.t.iter().flatten().all(|&v| v == 0.0));
    Optimizer::<f64, Flat3>::set_learning_rate(&mut adam, 0.5);
    assert_eq!(Optimizer::<f64, Flat3>::learning_rate(&adam), 0.5);
}

fn adam_ref(a: &mut Adam<Flat3>) -> &mut Adam<Flat3> {
    a
}

// ---------------------------------------------------------------------------
// Loss + backward against finite differences of the batch's mean loss.

fn mean_loss<M, L, Y>(model: &M, loss: &L, xs: &[M::Input], ys: &[Y]) -> f64
where
    M: Train<f64>,
    L: Loss<f64, Y>,
{
    let total: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| {
            let out = model.forward(x);
            loss.loss(out.as_flat(), M::OUTPUT_ACTIVATION, y, None)
                .unwrap()
                .0
        })
        .sum();
    total / xs.len() as f64
}

/// The mean gradient a step computes equals central differences of the
/// mean loss, for every parameter.
fn check_step_gradient<M, L, Y>(model: &M, loss: &L, xs: &[M::Input], ys: &[Y])
where
    M: Train<f64> + Clone,
    L: Loss<f64, Y>,
{
    let mut m = model.clone();
    let mut grads = M::zeros();
    let mut tape = M::new_tape();
    // lr 0: the step computes the gradient and leaves the weights alone.
    let mut sgd = Sgd::<M>::new(SgdConfig {
        lr: 0.0,
        ..Default::default()
    });
    let l = train_step(&mut m, &mut grads, &mut tape, &mut sgd, loss, xs, ys).unwrap();
    assert!((l - mean_loss(model, loss, xs, ys)).abs() < 1e-12);
    let h = 1e-6;
    for i in 0..M::TENSORS {
        for k in 0..model.tensor(i).len() {
            let mut plus = model.clone();
            plus.tensor_mut(i)[k] += h;
            let mut minus = model.clone();
            minus.tensor_mut(i)[k] -= h;
            let fd = (mean_loss(&plus, loss, xs, ys) - mean_loss(&minus, loss, xs, ys)) / (2.0 * h);
            let an = grads.tensor(i)[k];
            let err = (fd - an).abs() / fd.abs().max(an.abs()).max(1e-3);
            assert!(
                err < 1e-6,
                "tensor {i} index {k}: analytic {an:e}, finite difference {fd:e}"
            );
        }
    }
}

fn random_inputs<const I: usize>(n: usize, seed: u64) -> Vec<SVector<f64, I>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| SVector::from_fn(|_, _| rng.normal()))
        .collect()
}

#[test]
fn bce_after_sigmoid_backpropagates_through_the_logit() {
    let m = Binary::init(1);
    let (x, y) = blobs(6, 2);
    check_step_gradient(&m, &BinaryCrossEntropy, &x, &y);
    check_step_gradient(&m, &ClippedBinaryCrossEntropy::default(), &x, &y);
    check_step_gradient(&m, &MeanSquaredError, &x, &y);
}

#[test]
fn bce_on_a_linear_output_treats_it_as_the_logit() {
    let m = Mlp::<Linear, 3, 4, 2>::init(3);
    let x = random_inputs::<3>(5, 4);
    let y: Vec<SVector<f64, 2>> = (0..5)
        .map(|i| SVector::from([(i % 2) as f64, 0.3]))
        .collect();
    check_step_gradient(&m, &BinaryCrossEntropy, &x, &y);
    check_step_gradient(&m, &MeanSquaredError, &x, &y);
}

#[test]
fn categorical_cross_entropy_after_softmax_and_on_logits() {
    let m = Mlp::<Softmax, 3, 5, 4>::init(5);
    let x = random_inputs::<3>(6, 6);
    let labels: Vec<usize> = (0..6).map(|i| i % 4).collect();
    let onehot: Vec<SVector<f64, 4>> = labels
        .iter()
        .map(|&l| SVector::from_fn(|r, _| if r == l { 1.0 } else { 0.0 }))
        .collect();
    check_step_gradient(&m, &SparseCategoricalCrossEntropy, &x, &labels);
    check_step_gradient(&m, &CategoricalCrossEntropy, &x, &onehot);
    let lin = Mlp::<Linear, 3, 5, 4>::init(5);
    check_step_gradient(&lin, &SparseCategoricalCrossEntropy, &x, &labels);
    check_step_gradient(&lin, &CategoricalCrossEntropy, &x, &onehot);
    // Same weights, same loss whether the softmax is in the model or in
    // the loss.
    let a = mean_loss(&m, &SparseCategoricalCrossEntropy, &x, &labels);
    let mut lin2 = Mlp::<Linear, 3, 5, 4>::zeros();
    for i in 0..4 {
        lin2.tensor_mut(i).copy_from_slice(m.tensor(i));
    }
    let b = mean_loss(&lin2, &SparseCategoricalCrossEntropy, &x, &labels);
    assert!((a - b).abs() < 1e-14, "{a} vs {b}");
}

#[test]
fn a_loss_that_cannot_follow_the_activation_is_an_error() {
    let mut m = Mlp::<Relu, 2, 3, 1>::init(1);
    let (x, y) = blobs(4, 1);
    let mut t = Trainer::new(Sgd::<Mlp<Relu, 2, 3, 1>>::new(SgdConfig::default()));
    let before = m.clone();
    let e = t.step(&mut m, &BinaryCrossEntropy, &x, &y).unwrap_err();
    assert!(matches!(e, TrainError::Activation { .. }), "{e}");
    assert!(e.to_string().contains("sigmoid"), "{e}");
    assert_eq!(m, before);
    // The clipped form works on any output in [0, 1].
    t.step(&mut m, &ClippedBinaryCrossEntropy::default(), &x, &y)
        .unwrap();
}

// ---------------------------------------------------------------------------
// train_step

#[test]
fn train_step_learns_a_separable_problem() {
    let mut m = Binary::init(7);
    let (x, y) = blobs(64, 8);
    let mut t = Trainer::new(Adam::<Binary>::new(AdamConfig {
        lr: 0.05,
        ..Default::default()
    }));
    let first = mean_loss(&m, &BinaryCrossEntropy, &x, &y);
    for epoch in 0..40 {
        for (xs, ys) in x.chunks(16).zip(y.chunks(16)) {
            let l = t.step(&mut m, &BinaryCrossEntropy, xs, ys).unwrap();
            assert!(l.is_finite(), "epoch {epoch}");
        }
    }
    let last = mean_loss(&m, &BinaryCrossEntropy, &x, &y);
    assert!(last < 0.1 * first, "loss {first} → {last}");
    let e = evaluate(&m, &BinaryCrossEntropy, &BinaryAccuracy::default(), &x, &y).unwrap();
    assert_eq!(e.metric, Some(("accuracy", 1.0)), "{e}");
}

#[test]
fn step_with_reports_the_metric_before_the_update() {
    let mut m = Binary::init(7);
    let (x, y) = blobs(8, 8);
    let before = evaluate(&m, &BinaryCrossEntropy, &BinaryAccuracy::default(), &x, &y).unwrap();
    let mut t = Trainer::new(Sgd::<Binary>::new(SgdConfig::default()));
    let s = t
        .step_with(
            &mut m,
            &BinaryCrossEntropy,
            &BinaryAccuracy::default(),
            x.iter().zip(&y),
        )
        .unwrap();
    assert_eq!(s.n, 8);
    assert!((s.loss - before.loss).abs() < 1e-14);
    assert_eq!(Some(("accuracy", s.metric)), before.metric);
}

#[test]
fn a_nan_loss_leaves_weights_and_optimizer_untouched() {
    let mut m = Binary::init(3);
    let (mut x, y) = blobs(8, 4);
    let mut t = Trainer::new(Adam::<Binary>::new(AdamConfig::default()));
    t.step(&mut m, &BinaryCrossEntropy, &x, &y).unwrap();
    let (weights, steps) = (m.clone(), t.optimizer.steps());
    // A NaN target: the loss is NaN.
    let mut bad_y = y.clone();
    bad_y[5][0] = f64::NAN;
    let e = t.step(&mut m, &BinaryCrossEntropy, &x, &bad_y).unwrap_err();
    assert_eq!(
        e,
        TrainError::NonFinite {
            what: "loss",
            at: None
        }
    );
    assert_eq!(m, weights);
    assert_eq!(t.optimizer.steps(), steps);
    // A NaN input is caught before its forward, with its index.
    x[5][0] = f64::NAN;
    let e = t.step(&mut m, &BinaryCrossEntropy, &x, &y).unwrap_err();
    assert_eq!(
        e,
        TrainError::NonFiniteInput {
            index: 5,
            validation: false
        }
    );
    assert_eq!(m, weights);
    assert_eq!(t.optimizer.steps(), steps);
}

/// A loss whose value is finite but whose gradient is not.
struct NanGradient;
impl Loss<f64, SVector<f64, 1>> for NanGradient {
    fn loss(
        &self,
        _out: &[f64],
        _act: OutputActivation,
        _y: &SVector<f64, 1>,
        grad: Option<&mut [f64]>,
    ) -> Result<(f64, Wrt), TrainError> {
        if let Some(g) = grad {
            g.fill(f64::INFINITY);
        }
        Ok((1.0, Wrt::Output))
    }
}

#[test]
fn a_non_finite_gradient_leaves_weights_untouched() {
    let mut m = Binary::init(3);
    let (x, y) = blobs(4, 4);
    let before = m.clone();
    let mut t = Trainer::new(Sgd::<Binary>::new(SgdConfig::default()));
    let e = t.step(&mut m, &NanGradient, &x, &y).unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::NonFinite {
                what: "gradient",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(m, before);
}

#[test]
fn bad_batches_are_errors_not_panics() {
    let mut m = Binary::init(3);
    let (x, y) = blobs(4, 4);
    let mut t = Trainer::new(Sgd::<Binary>::new(SgdConfig::default()));
    let e = t
        .step(&mut m, &BinaryCrossEntropy, &x, &y[..3])
        .unwrap_err();
    assert_eq!(
        e,
        TrainError::LengthMismatch {
            inputs: 4,
            targets: 3
        }
    );
    assert!(e.to_string().contains("4 inputs but 3 targets"));
    let e = t
        .step(&mut m, &BinaryCrossEntropy, &x[..0], &y[..0])
        .unwrap_err();
    assert_eq!(e, TrainError::Empty);
    // A target of the wrong shape.
    let y2: Vec<SVector<f64, 2>> = vec![SVector::zeros(); 4];
    let e = t.step(&mut m, &MeanSquaredError, &x, &y2).unwrap_err();
    assert_eq!(
        e,
        TrainError::TargetLength {
            expected: 1,
            found: 2
        }
    );
    // A label out of range.
    let mut c = Mlp::<Softmax, 2, 3, 3>::init(1);
    let mut tc = Trainer::new(Sgd::<Mlp<Softmax, 2, 3, 3>>::new(SgdConfig::default()));
    let e = tc
        .step(&mut c, &SparseCategoricalCrossEntropy, &x, &[0, 1, 3, 2])
        .unwrap_err();
    assert_eq!(
        e,
        TrainError::LabelOutOfRange {
            label: 3,
            classes: 3
        }
    );
}

// ---------------------------------------------------------------------------
// fit, evaluate, predict

fn quiet<'a, X, Y>(epochs: usize, batch_size: usize, seed: u64) -> FitConfig<'a, X, Y> {
    FitConfig {
        epochs,
        batch_size,
        seed,
        verbose: 0,
        ..Default::default()
    }
}

fn fit_binary(config: &FitConfig<'_, SVector<f64, 2>, SVector<f64, 1>>) -> (Binary, History) {
    let mut m = Binary::init(11);
    let (x, y) = blobs(50, 12);
    let mut adam = Adam::<Binary>::new(AdamConfig {
        lr: 0.02,
        ..Default::default()
    });
    let h = fit(
        &mut m,
        &mut adam,
        &BinaryCrossEntropy,
        &BinaryAccuracy::default(),
        &x,
        &y,
        config,
    )
    .unwrap();
    (m, h)
}

#[test]
fn fit_is_deterministic_for_a_seed_and_learns() {
    let config = FitConfig {
        validation: Validation::Split(0.2),
        ..quiet(8, 8, 5)
    };
    let (m1, h1) = fit_binary(&config);
    let (m2, h2) = fit_binary(&config);
    assert_eq!(h1, h2);
    assert_eq!(m1, m2);
    assert_eq!(h1.loss.len(), 8);
    assert_eq!(h1.metric.len(), 8);
    assert_eq!(h1.val_loss.len(), 8);
    assert_eq!(h1.val_metric.len(), 8);
    assert_eq!(h1.metric_name, Some("accuracy"));
    assert!(h1.loss[7] < 0.5 * h1.loss[0], "{:?}", h1.loss);
    // Another seed shuffles differently.
    let (_, h3) = fit_binary(&FitConfig { seed: 6, ..config });
    assert_ne!(h1.loss, h3.loss);
}

#[test]
fn threads_give_the_single_threaded_result() {
    // 40 training samples in batches of 7: the last batch has 5.
    let base = FitConfig {
        validation: Validation::Split(0.2),
        ..quiet(3, 7, 9)
    };
    let (m1, h1) = fit_binary(&base);
    for threads in [2, 3, 8] {
        let (mt, ht) = fit_binary(&FitConfig { threads, ..base });
        let close = |a: &[f64], b: &[f64]| {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-12)
        };
        assert!(close(&h1.loss, &ht.loss), "{threads} threads: {ht:?}");
        assert!(close(&h1.val_loss, &ht.val_loss), "{threads} threads");
        assert_eq!(h1.metric, ht.metric);
        assert!(close(&m1.flat(), &mt.flat()), "{threads} threads: weights");
    }
}

#[test]
fn validation_split_takes_the_last_samples_before_shuffling() {
    let (x, y) = blobs(50, 12);
    let adam = || {
        Adam::<Binary>::new(AdamConfig {
            lr: 0.02,
            ..Default::default()
        })
    };
    // 50 · (1 − 0.3) = 35 training samples, the last 15 validate.
    let mut a = Binary::init(11);
    let ha = fit(
        &mut a,
        &mut adam(),
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            validation: Validation::Split(0.3),
            ..quiet(2, 8, 1)
        },
    )
    .unwrap();
    let mut b = Binary::init(11);
    let hb = fit(
        &mut b,
        &mut adam(),
        &BinaryCrossEntropy,
        &NoMetric,
        &x[..35],
        &y[..35],
        &FitConfig {
            validation: Validation::Data(&x[35..], &y[35..]),
            ..quiet(2, 8, 1)
        },
    )
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(ha, hb);
    assert!(ha.metric.is_empty() && ha.val_metric.is_empty());
    let e = evaluate(&a, &BinaryCrossEntropy, &NoMetric, &x[35..], &y[35..]).unwrap();
    assert_eq!(ha.val_loss[1], e.loss);
}

#[test]
fn fit_stops_at_a_non_finite_loss_with_the_last_good_weights() {
    let (mut x, mut y) = blobs(24, 3);
    y[13][0] = f64::NAN; // a target in the second batch of 8 (no shuffle)
                         // A NaN input is found before the first step, with its index.
    x[13][1] = f64::NAN;
    let mut m = Binary::init(4);
    let e = fit(
        &mut m,
        &mut Sgd::<Binary>::new(SgdConfig::default()),
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &quiet(2, 8, 0),
    )
    .unwrap_err();
    assert_eq!(
        e,
        TrainError::NonFiniteInput {
            index: 13,
            validation: false
        }
    );
    assert_eq!(
        e.to_string(),
        "input 13 holds a NaN or infinite value; nothing was changed"
    );
    assert_eq!(m, Binary::init(4));
    x[13][1] = 0.0;
    let mut sgd = Sgd::<Binary>::new(SgdConfig {
        lr: 0.1,
        ..Default::default()
    });
    let e = fit(
        &mut m,
        &mut sgd,
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &FitConfig {
            shuffle: false,
            ..quiet(2, 8, 0)
        },
    )
    .unwrap_err();
    assert_eq!(
        e,
        TrainError::NonFinite {
            what: "loss",
            at: Some((1, 2))
        }
    );
    assert!(e.to_string().contains("epoch 1, batch 2"), "{e}");
    // The weights are those after the first batch.
    let mut want = Binary::init(4);
    let mut sgd2 = Sgd::<Binary>::new(SgdConfig {
        lr: 0.1,
        ..Default::default()
    });
    let mut t = Trainer::new(Sgd::<Binary>::new(SgdConfig::default()));
    train_step(
        &mut want,
        &mut t.grads,
        &mut t.tapes[0],
        &mut sgd2,
        &BinaryCrossEntropy,
        &x[..8],
        &y[..8],
    )
    .unwrap();
    assert_eq!(m, want);
}

#[test]
fn fit_rejects_bad_configurations() {
    let (x, y) = blobs(10, 3);
    let mut m = Binary::init(4);
    let mut sgd = Sgd::<Binary>::new(SgdConfig::default());
    let mut run = |x: &[SVector<f64, 2>],
                   y: &[SVector<f64, 1>],
                   c: FitConfig<'_, SVector<f64, 2>, SVector<f64, 1>>| {
        fit(&mut m, &mut sgd, &BinaryCrossEntropy, &NoMetric, x, y, &c).unwrap_err()
    };
    assert_eq!(
        run(&x, &y[..9], quiet(1, 4, 0)),
        TrainError::LengthMismatch {
            inputs: 10,
            targets: 9
        }
    );
    assert_eq!(run(&x[..0], &y[..0], quiet(1, 4, 0)), TrainError::Empty);
    let e = run(&x, &y, quiet(1, 0, 0));
    assert!(e.to_string().contains("batch_size"), "{e}");
    let e = run(
        &x,
        &y,
        FitConfig {
            threads: 0,
            ..quiet(1, 4, 0)
        },
    );
    assert!(e.to_string().contains("threads"), "{e}");
    for split in [0.0, 1.0, -0.5, f64::NAN, 0.95] {
        let e = run(
            &x,
            &y,
            FitConfig {
                validation: Validation::Split(split),
                ..quiet(1, 4, 0)
            },
        );
        assert!(e.to_string().contains("validation_split"), "{split}: {e}");
    }
    let e = run(
        &x,
        &y,
        FitConfig {
            validation: Validation::Data(&x[..2], &y[..1]),
            ..quiet(1, 4, 0)
        },
    );
    assert!(matches!(e, TrainError::LengthMismatch { .. }));
}

#[test]
fn fit_prints_keras_lines() {
    let (x, y) = blobs(40, 3);
    let mut m = Binary::init(4);
    let mut adam = Adam::<Binary>::new(AdamConfig::default());
    let mut out = Vec::new();
    fit_to(
        &mut m,
        &mut adam,
        &BinaryCrossEntropy,
        &BinaryAccuracy::default(),
        &x,
        &y,
        &FitConfig {
            epochs: 2,
            validation: Validation::Split(0.2),
            ..Default::default()
        },
        &mut out,
        false,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "Epoch 1/2");
    assert_eq!(lines[2], "Epoch 2/2");
    // 32 training samples: one batch.
    let l = lines[3];
    assert!(
        l.starts_with("1/1 [==============================] - 0s "),
        "{l}"
    );
    let rest = l.split("/step - ").nth(1).expect(l);
    let keys: Vec<&str> = rest
        .split(" - ")
        .map(|kv| kv.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["loss", "accuracy", "val_loss", "val_accuracy"],
        "{l}"
    );
    for kv in rest.split(" - ") {
        let v = kv.split(": ").nth(1).unwrap();
        assert_eq!(v.split('.').nth(1).map(str::len), Some(4), "{l}");
    }

    // verbose 0 prints nothing; verbose 2 prints no bar; a live bar
    // redraws with carriage returns.
    let mut out = Vec::new();
    let mut cfg = quiet(1, 8, 0);
    fit_to(
        &mut m,
        &mut adam,
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &cfg,
        &mut out,
        false,
    )
    .unwrap();
    assert!(out.is_empty());
    cfg.verbose = 2;
    fit_to(
        &mut m,
        &mut adam,
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &cfg,
        &mut out,
        false,
    )
    .unwrap();
    let text = String::from_utf8(std::mem::take(&mut out)).unwrap();
    assert!(text.starts_with("Epoch 1/1\n5/5 - "), "{text}");
    assert!(!text.contains('['));
    cfg.verbose = 1;
    fit_to(
        &mut m,
        &mut adam,
        &BinaryCrossEntropy,
        &NoMetric,
        &x,
        &y,
        &cfg,
        &mut out,
        true,
    )
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("\r1/5 [=====>........................] - ETA: "),
        "{text:?}"
    );
    assert!(
        text.contains("\r\x1b[2K5/5 [==============================] - "),
        "{text:?}"
    );
}

#[test]
fn evaluate_and_predict() {
    let m = Mlp::<Softmax, 3, 4, 3>::init(2);
    let x = random_inputs::<3>(5, 1);
    let p = predict(&m, &x).unwrap();
    assert_eq!(p.len(), 5);
    for (pi, xi) in p.iter().zip(&x) {
        assert_eq!(*pi, m.forward(xi));
        assert!((pi.sum() - 1.0).abs() < 1e-12);
    }
    let labels: Vec<usize> = p.iter().map(|v| v.argmax().0).collect();
    let e = evaluate(
        &m,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &x,
        &labels,
    )
    .unwrap();
    assert_eq!(e.metric, Some(("accuracy", 1.0)));
    let want: f64 = p.iter().zip(&labels).map(|(v, &l)| -v[l].ln()).sum::<f64>() / 5.0;
    assert!((e.loss - want).abs() < 1e-14);
    assert!(e.to_string().starts_with("loss: "));
    assert!(e.to_string().ends_with(" - accuracy: 1.0000"), "{e}");
    assert_eq!(
        evaluate(
            &m,
            &SparseCategoricalCrossEntropy,
            &NoMetric,
            &x[..0],
            &labels[..0]
        ),
        Err(TrainError::Empty)
    );
}

#[test]
fn f32_models_train_through_the_same_api() {
    // The optimizers and losses are generic over the float: a one-tensor
    // f32 "model" w minimising (w − 3)² with MSE through Adam.
    #[derive(Clone, Debug)]
    struct W(SVector<f32, 1>);
    impl Model<f32> for W {
        type Input = SVector<f32, 1>;
        type Output = SVector<f32, 1>;
        const NAME: &'static str = "W";
        const INPUT_SHAPE: &'static [usize] = &[1];
        const LAYERS: &'static [LayerInfo] = &[];
        const PARAMS: usize = 1;
        const ACTIVATION_VALUES: usize = 2;
        const TENSORS: usize = 1;
        fn zeros() -> Self {
            W(SVector::zeros())
        }
        fn forward(&self, _x: &Self::Input) -> Self::Output {
            self.0
        }
        fn visit_params<'a>(&'a self, _f: &mut dyn FnMut(Param<'a, f32>)) {}
        fn visit_params_mut<'a>(&'a mut self, _f: &mut dyn FnMut(ParamMut<'a, f32>)) {}
        fn tensor(&self, i: usize) -> &[f32] {
            if i == 0 {
                self.0.as_slice()
            } else {
                &[]
            }
        }
        fn tensor_mut(&mut self, i: usize) -> &mut [f32] {
            if i == 0 {
                self.0.as_mut_slice()
            } else {
                &mut []
            }
        }
        fn init_in(&mut self, _seed: u64) {}
    }
    impl Train<f32> for W {
        type Tape = ();
        const OUTPUT_ACTIVATION: OutputActivation = OutputActivation::Linear;
        fn new_tape() {}
        fn forward_train(&self, x: &Self::Input, _tape: &mut ()) -> Self::Output {
            self.forward(x)
        }
        fn logits(_tape: &()) -> Self::Output {
            // Only called for a sigmoid or softmax output; this one is linear.
            SVector::zeros()
        }
        fn backward(&self, _tape: &(), dy: &Self::Output, grads: &mut Self) -> Self::Input {
            grads.0 += dy;
            SVector::zeros()
        }
        fn backward_logits(&self, tape: &(), dz: &Self::Output, grads: &mut Self) -> Self::Input {
            self.backward(tape, dz, grads)
        }
    }
    let mut w = W::zeros();
    let mut t = Trainer::new(Adam::<W>::new(AdamConfig {
        lr: 0.1,
        ..Default::default()
    }));
    let x = [SVector::<f32, 1>::zeros()];
    let y = [SVector::<f32, 1>::new(3.0)];
    for _ in 0..300 {
        t.step(&mut w, &MeanSquaredError, &x, &y).unwrap();
    }
    assert!((w.0[0] - 3.0).abs() < 1e-2, "{}", w.0[0]);
    let _: f32 = Float::of_f64(1.0);
}
