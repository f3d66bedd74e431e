//! The generated backward against central finite differences in f64, on
//! every parameter and every input value, for every layer kind and option.
//!
//! The loss is `L = Σ output ⊙ R` for a fixed random `R`, so `dL/doutput = R`.

use staticnet::{model, Rng, Tensor, Train};

/// Checks `backward` (and `backward_logits` where it differs) of `M` at a
/// random point; returns the number of values compared.
fn check<M: Train<f64>>(seed: u64) -> usize {
    let mut rng = Rng::new(seed);
    let mut model = M::zeros();
    model.init_in(seed);
    // Non-zero biases and a non-trivial point: perturb every parameter.
    for i in 0..M::TENSORS {
        for v in model.tensor_mut(i) {
            *v += 0.3 * (rng.uniform() - 0.5);
        }
    }
    let mut x = M::Input::zeros();
    for v in x.as_flat_mut() {
        *v = 2.0 * rng.uniform() - 1.0;
    }
    let mut r = M::Output::zeros();
    for v in r.as_flat_mut() {
        *v = 2.0 * rng.uniform() - 1.0;
    }
    let loss = |m: &M, x: &M::Input| -> f64 {
        let y = m.forward(x);
        y.as_flat()
            .iter()
            .zip(r.as_flat())
            .map(|(a, b)| a * b)
            .sum()
    };

    let mut tape = M::new_tape();
    let y = model.forward_train(&x, &mut tape);
    // `forward` runs through run-time CPU dispatch: its AVX2 copy's
    // recurrent kernels use the AVX blocking and fused multiply-adds, so it
    // agrees with the (baseline) training forward to rounding, not bit for
    // bit (tests/dispatch.rs).
    for (a, b) in y.as_flat().iter().zip(model.forward(&x).as_flat()) {
        assert!(
            (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
            "forward_train and forward differ: {a} vs {b}"
        );
    }
    let mut grads = M::zeros();
    let dx = model.backward(&tape, &r, &mut grads);

    let eps = 1e-6;
    let mut compared = 0;
    let close = |analytic: f64, numeric: f64, what: &str| {
        let scale = analytic.abs().max(numeric.abs()).max(1e-3);
        let rel = (analytic - numeric).abs() / scale;
        assert!(
            rel < 1e-6,
            "{}: {what}: backward {analytic:e}, finite differences {numeric:e} (rel {rel:e})",
            std::any::type_name::<M>()
        );
    };
    for t in 0..M::TENSORS {
        for k in 0..model.tensor(t).len() {
            let orig = model.tensor(t)[k];
            model.tensor_mut(t)[k] = orig + eps;
            let lp = loss(&model, &x);
            model.tensor_mut(t)[k] = orig - eps;
            let lm = loss(&model, &x);
            model.tensor_mut(t)[k] = orig;
            close(
                grads.tensor(t)[k],
                (lp - lm) / (2.0 * eps),
                &format!("tensor {t} value {k}"),
            );
            compared += 1;
        }
    }
    for k in 0..M::Input::LEN {
        let mut xp = x;
        xp.as_flat_mut()[k] += eps;
        let mut xm = x;
        xm.as_flat_mut()[k] -= eps;
        let numeric = (loss(&model, &xp) - loss(&model, &xm)) / (2.0 * eps);
        close(dx.as_flat()[k], numeric, &format!("input value {k}"));
        compared += 1;
    }
    compared
}

macro_rules! gradient_cases {
    ($($test:ident: $model:ident { $($body:tt)* })*) => {
        $(
            model! { struct $model { $($body)* } }
            #[test]
            fn $test() {
                assert!(check::<$model<f64>>(11) > 0);
                assert!(check::<$model<f64>>(12) > 0);
            }
        )*
    };
}

gradient_cases! {
    dense_activations: DenseActs {
        input: [5],
        a: Dense(4, activation = relu),
        b: Dense(4, activation = sigmoid),
        c: Dense(4, activation = tanh),
        d: Dense(3, activation = softmax),
        e: Dense(2),
    }
    conv_valid_stride: ConvValid {
        input: [2, 6, 5],
        c: Conv2d(3, kernel = (3, 2), stride = (2, 1), activation = tanh),
        f: Flatten,
        o: Dense(2),
    }
    conv_same_even_kernel_stride: ConvSame {
        input: [2, 5, 6],
        c: Conv2d(2, kernel = 2, stride = 2, padding = same, activation = sigmoid),
        d: Conv2d(2, kernel = 3, padding = same, activation = relu),
        f: Flatten,
    }
    conv_explicit_padding_softmax: ConvPad {
        input: [1, 4, 4],
        c: Conv2d(3, kernel = 3, padding = (1, 2), activation = softmax),
        d: Conv2d(2, kernel = (2, 3), padding = 1),
    }
    pools: Pools {
        input: [2, 7, 6],
        m: MaxPool2d(2),
        a: AvgPool2d((2, 3), stride = 1),
        m2: MaxPool2d((2, 1), stride = (1, 2)),
    }
    activation_layers_on_each_shape: ActLayers {
        input: [2, 3, 3],
        r: Tanh,
        s: Softmax,
        f: Flatten,
        d: Dense(4),
        g: Sigmoid,
        h: Relu,
        sm: Softmax,
    }
    seq_dense_and_activations: SeqDense {
        input: [4, 3],
        d: Dense(5, activation = tanh),
        s: Softmax,
        t: Sigmoid,
        f: Flatten,
    }
    simple_rnn_each_activation: Rnns {
        input: [4, 3],
        a: SimpleRnn(3, return_sequences = true),
        b: SimpleRnn(3, activation = sigmoid, return_sequences = true),
        c: SimpleRnn(3, activation = linear, return_sequences = true),
        d: SimpleRnn(2, activation = relu),
    }
    lstm_stack: Lstms {
        input: [5, 3],
        a: Lstm(4, return_sequences = true),
        b: Lstm(3),
        o: Dense(2),
    }
    gru_stack: Grus {
        input: [5, 3],
        a: Gru(4, return_sequences = true),
        b: Gru(3, return_sequences = true),
        o: Dense(2),
    }
    rnn_into_lstm_one_step: Mixed {
        input: [1, 2],
        a: SimpleRnn(3, return_sequences = true),
        b: Lstm(2),
    }
    seed_cnn_shape: SmallCnn {
        input: [1, 6, 6],
        conv1: Conv2d(4, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(5, activation = relu),
        out: Dense(1, activation = sigmoid),
    }
}

model! {
    struct Logits {
        input: [3],
        a: Dense(4, activation = softmax),
    }
}

/// `backward_logits` skips the final activation: for `Dense(.., softmax)`
/// its input gradient is `Wᵀ dz` with `dz` given directly.
#[test]
fn backward_logits_skips_the_final_activation() {
    use staticnet::OutputActivation;
    assert_eq!(
        <Logits<f64> as Train<f64>>::OUTPUT_ACTIVATION,
        OutputActivation::Softmax
    );
    assert_eq!(
        <SeqDense<f64> as Train<f64>>::OUTPUT_ACTIVATION,
        OutputActivation::Linear
    );
    let m = Logits::<f64>::init(3);
    let x = staticnet::Vector::<f64, 3>::new(0.1, -0.2, 0.3);
    let mut tape = Logits::<f64>::new_tape();
    m.forward_train(&x, &mut tape);
    let dz = staticnet::Vector::<f64, 4>::new(0.5, -1.0, 0.25, 2.0);
    let mut g = Logits::<f64>::zeros();
    let dx = m.backward_logits(&tape, &dz, &mut g);
    let want = m.a.weight.transpose() * dz;
    assert!((dx - want).abs().max() < 1e-15);
    assert!((g.a.bias - dz).abs().max() < 1e-15);
}
