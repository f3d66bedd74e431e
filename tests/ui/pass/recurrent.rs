//! SimpleRnn with every activation, Lstm and Gru returning sequences or
//! their last state, stacked recurrent layers, Dense per step, and Flatten
//! of a sequence.
use staticnet::{model, Model, Sequence, Tensor};

model! {
    pub struct Simple {
        input: [6, 3],
        a: SimpleRnn(4, activation = linear, return_sequences = true),
        b: SimpleRnn(4, activation = relu, return_sequences = true),
        c: SimpleRnn(4, activation = sigmoid, return_sequences = true),
        d: SimpleRnn(5, activation = tanh, return_sequences = false),
    }
}

model! {
    /// Stacked gated layers with a per-step Dense between them.
    pub struct Gated {
        input: [5, 2],
        /// Keeps every step for the next layer.
        l1: Lstm(3, return_sequences = true),
        g1: Gru(4, return_sequences = true),
        per_step: Dense(2, activation = relu),
        l2: Lstm(3, return_sequences = false),
    }
}

model! {
    struct GruLast {
        input: [5, 2],
        g: Gru(units = 3),
        head: Dense(1),
    }
}

model! {
    struct SequenceHead {
        input: [4, 3],
        l: Lstm(2, return_sequences = true),
        f: Flatten,
        out: Dense(1, activation = sigmoid),
    }
}

model! {
    struct PerStep {
        input: [4, 3],
        d: Dense(2),
        rnn: SimpleRnn(3, return_sequences = true),
    }
}

fn main() {
    let y = Simple::<f32>::init(1).forward(&Sequence::zeros());
    assert_eq!(y.len(), 5);

    let y = Gated::<f64>::init(2).forward(&Sequence::zeros());
    assert_eq!(y.len(), 3);
    assert_eq!(Gated::<f64>::LAYERS[2].output, &[5, 2]);

    let y = GruLast::<f32>::init(3).forward(&Sequence::zeros());
    assert_eq!(y.len(), 1);
    // PyTorch counts: GRU(2 -> 3) = 3 * 3 * (2 + 3 + 2), Linear(3 -> 1) = 4.
    assert_eq!(GruLast::<f32>::PARAMS, 3 * 3 * 7 + 4);

    let y = SequenceHead::<f32>::init(4).forward(&Sequence::zeros());
    assert!(y[0] > 0.0 && y[0] < 1.0);
    assert_eq!(SequenceHead::<f32>::LAYERS[1].output, &[8]);

    // A sequence [steps, features] is stored with one column per step.
    let y = PerStep::<f32>::init(5).forward(&Sequence::zeros());
    assert_eq!((y.ncols(), y.nrows()), (4, 3));
}
