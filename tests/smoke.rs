//! Every layer kind compiles and runs; shapes and summaries agree.
use staticnet::{model, Model, Sequence, Tensor};

model! {
    pub struct Forecaster {
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head:  Dense(1),
    }
}

model! {
    struct Everything {
        input: [2, 9, 7],
        c1: Conv2d(3, kernel = (3, 2), stride = (2, 1), padding = same, activation = tanh),
        p1: AvgPool2d((2, 1), stride = 1),
        c2: Conv2d(2, kernel = 2, padding = (1, 0), activation = softmax),
        p2: MaxPool2d(2),
        s: Sigmoid,
        f: Flatten,
        d: Dense(6, activation = softmax),
        r: Relu,
    }
}

model! {
    struct Recurrent {
        input: [5, 3],
        a: SimpleRnn(4, activation = relu, return_sequences = true),
        b: Gru(3, return_sequences = true),
        per_step: Dense(2, activation = tanh),
        t: Tanh,
        sm: Softmax,
        c: SimpleRnn(2),
    }
}

#[test]
fn models_run_and_count_parameters() {
    let f = Forecaster::<f64>::init(1);
    let y = f.forward(&Sequence::zeros());
    assert_eq!(y.len(), 1);
    // PyTorch counts: LSTM(8→32) = 4·32·(8+32+2), LSTM(32→32) = 4·32·(32+32+2), Linear 33.
    assert_eq!(Forecaster::<f32>::PARAMS, 4 * 32 * 42 + 4 * 32 * 66 + 33);
    let e = Everything::<f32>::init(2);
    let y = e.forward(&Tensor::zeros());
    let s: f32 = y.iter().sum();
    assert!(
        (s - 1.0).abs() < 1e-5,
        "softmax then relu of non-negative values sums to 1: {s}"
    );
    let r = Recurrent::<f32>::init(3);
    assert_eq!(r.forward(&Sequence::zeros()).len(), 2);
}
