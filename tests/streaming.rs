//! Streaming inference: stepping through a sequence one time step at a
//! time gives exactly the full-sequence forward output.

use staticnet::{model, Model, Rng, Tensor};

model! {
    struct LastState {
        input: [12, 3],
        l1: Lstm(5, return_sequences = true),
        g: Gru(4, return_sequences = true),
        per_step: Dense(6, activation = tanh),
        r: SimpleRnn(3),
        head: Dense(2, activation = softmax),
    }
}

model! {
    struct EveryStep {
        input: [7, 2],
        r: SimpleRnn(4, activation = relu, return_sequences = true),
        l: Lstm(3, return_sequences = true),
        s: Sigmoid,
    }
}

fn random_input<M: Model<f64>>(seed: u64) -> M::Input {
    let mut rng = Rng::new(seed);
    let mut x = M::Input::zeros();
    for v in x.as_flat_mut() {
        *v = 2.0 * rng.uniform() - 1.0;
    }
    x
}

#[test]
fn stepping_equals_forward_for_a_last_state_model() {
    let m = LastState::<f64>::init(5);
    for seed in 0..3 {
        let x = random_input::<LastState<f64>>(seed);
        let mut state = LastStateState::zeros();
        let mut y = staticnet::Vector::<f64, 2>::zeros();
        for t in 0..12 {
            y = m.step(&mut state, &x.column(t).into_owned());
        }
        assert_eq!(y, m.forward(&x), "seed {seed}");
        // A reset state starts the next sequence afresh.
        state.reset();
        assert_eq!(state, LastStateState::zeros());
    }
}

#[test]
fn stepping_gives_every_step_of_a_sequence_model() {
    let m = EveryStep::<f64>::init(6);
    let x = random_input::<EveryStep<f64>>(9);
    let full = m.forward(&x);
    let mut state = EveryStepState::zeros();
    for t in 0..7 {
        let y = m.step(&mut state, &x.column(t).into_owned());
        assert_eq!(y, full.column(t).into_owned(), "step {t}");
    }
}

#[test]
fn stepping_in_f32_matches_forward() {
    let m = LastState::<f32>::init(5);
    let mut x = <LastState<f32> as Model<f32>>::Input::zeros();
    for (i, v) in x.as_flat_mut().iter_mut().enumerate() {
        *v = ((i * 7 % 11) as f32 - 5.0) / 5.0;
    }
    let mut state = LastStateState::<f32>::zeros();
    let mut y = staticnet::Vector::<f32, 2>::zeros();
    for t in 0..12 {
        y = m.step(&mut state, &x.column(t).into_owned());
    }
    assert_eq!(y, m.forward(&x));
}
