// A sequence written features-first: the model's input is [steps,
// features] = [32, 8], the value is 8 steps of 32 features. A sequence
// model's `forward` is bounded by `AsSequence`, so rustc reports it in the
// DSL's order ("takes a sequence of [steps, features] = [32, 8]", and
// "`AsSequence<_, 8, 32>` is implemented for it") rather than as a
// mismatch of nalgebra's features-first `Matrix<_, Const<F>, Const<S>>`.
use staticnet::{model, Sequence, Steps};

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
    // Plain arrays are the DSL's order, [steps][features], and are inputs:
    let steps = [[0.0f32; 8]; 32];
    let _ = net.forward(&steps);
    let _ = net.forward(&Sequence::from_steps(&steps));
    // 8 steps of 32 features as a plain array:
    let _ = net.forward(&[[0.0f32; 32]; 8]);
    // and through `from_steps`: "expected an array with a size of 8, found
    // one with a size of 32" (the features).
    let _ = net.forward(&Sequence::from_steps(&[[0.0f32; 32]; 8]));
}
