//! Dense with every activation and the positional given by name; every
//! stand-alone activation layer on a vector, a sequence and an image.
use staticnet::{model, Model, Sequence, Tensor};

model! {
    pub struct Denses {
        input: [5],
        a: Dense(4, activation = linear),
        b: Dense(units = 4, activation = relu),
        c: Dense(4, activation = sigmoid),
        d: Dense(4, activation = tanh),
        e: Dense(units = 3, activation = softmax),
    }
}

model! {
    struct OnVector {
        input: [4],
        r: Relu,
        s: Sigmoid,
        t: Tanh,
        m: Softmax,
    }
}

model! {
    struct OnSequence {
        input: [3, 4],
        r: Relu,
        s: Sigmoid,
        t: Tanh,
        m: Softmax,
    }
}

model! {
    struct OnImage {
        input: [2, 3, 4],
        r: Relu,
        s: Sigmoid,
        t: Tanh,
        m: Softmax,
    }
}

model! {
    struct FlattenVector {
        input: [3],
        f: Flatten,
        d: Dense(1, activation = sigmoid),
    }
}

fn main() {
    let y = Denses::<f32>::init(1).forward(&Tensor::zeros());
    assert_eq!(y.len(), 3);
    assert!((y.sum() - 1.0).abs() < 1e-6, "softmax sums to 1");

    let y = OnVector::<f32>::init(0).forward(&Tensor::zeros());
    assert_eq!(y.len(), 4);
    assert!((y.sum() - 1.0).abs() < 1e-6);

    // A sequence [steps, features] is stored with one column per step.
    let y = OnSequence::<f64>::init(0).forward(&Sequence::zeros());
    assert_eq!((y.ncols(), y.nrows()), (3, 4));

    let y = OnImage::<f32>::init(0).forward(&Tensor::zeros());
    assert_eq!((y.len(), y[0].len(), y[0][0].len()), (2, 3, 4));

    let y = FlattenVector::<f32>::init(4).forward(&Tensor::zeros());
    assert!(y[0] > 0.0 && y[0] < 1.0);
}
