// A sequence written features-first: the model's input is [steps,
// features] = [32, 8], the value is 8 steps of 32 features. rustc prints
// a `Sequence<T, S, F>` as nalgebra's `Matrix<T, Const<F>, Const<S>, ..>`
// (features first); the DSL reference ("Reading a type error") says so.
// Built with `Sequence::from_steps`, the error is in the DSL's order (the
// array `[[T; F]; S]` of S steps of F features). This case pins the
// messages so that a clearer one shows as a diff.
use staticnet::{model, Model, Sequence, Steps};

model! {
    struct Net {
        input: [32, 8],
        gru: Gru(4),
        out: Dense(1),
    }
}

fn main() {
    let net = Net::<f32>::init(0);
    let transposed = Sequence::<f32, 8, 32>::zeros();
    let _ = net.forward(&transposed);
    // Plain arrays are converted in the DSL's order, [steps][features]:
    let steps = [[0.0f32; 8]; 32];
    let _ = net.forward(&Sequence::from_steps(&steps));
    // 8 steps of 32 features through `from_steps`: "expected an array
    // with a size of 8, found one with a size of 32" (the features).
    let _ = net.forward(&Sequence::from_steps(&[[0.0f32; 32]; 8]));
    // and a plain array is not a sequence.
    let _ = net.forward(&steps);
}
