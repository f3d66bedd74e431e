//! Workloads for tools/insn_ab.sh: `insn_workloads <name> <iterations>`
//! runs one workload of benches/ (same networks, default weights seed)
//! that many times, so that the difference of two runs' instruction
//! counts under valgrind is the count of `iterations₂ − iterations₁`
//! iterations, whatever the setup costs. Written against the API that
//! every commit compared has (the script copies this file into each
//! checkout's examples/).

use staticnet::loss::{BinaryCrossEntropy, MeanSquaredError};
use staticnet::optim::{Adam, AdamConfig};
use staticnet::train::BatchMemory;
use staticnet::{model, Model, Rng, Tensor, Train, Trainer, Vector};
use std::hint::black_box;

model! {
    /// W1: the textbook CNN.
    pub struct Cnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(1, activation = sigmoid),
    }
}

model! {
    /// W2: an LSTM over 32 steps of 8 features, a Dense head on the last state.
    pub struct LstmNet {
        input: [32, 8],
        lstm1: Lstm(32),
        head:  Dense(1),
    }
}

model! {
    /// The same with a GRU.
    pub struct GruNet {
        input: [32, 8],
        gru1: Gru(32),
        head: Dense(1),
    }
}

const BATCH: usize = 32;

fn inputs<M: Model<f32>>(seed: u64) -> Vec<M::Input> {
    let mut rng = Rng::new(seed);
    (0..BATCH)
        .map(|_| {
            let mut x = M::Input::zeros();
            for v in x.as_flat_mut() {
                *v = (2.0 * rng.uniform() - 1.0) as f32;
            }
            x
        })
        .collect()
}

fn targets(seed: u64, binary: bool) -> Vec<Vector<f32, 1>> {
    let mut rng = Rng::new(seed);
    (0..BATCH)
        .map(|_| {
            let u = rng.uniform() as f32;
            Vector::<f32, 1>::new(if binary { (u > 0.5) as u8 as f32 } else { u })
        })
        .collect()
}

fn init<M: Model<f32>>() -> Box<M> {
    let mut net = Box::new(M::zeros());
    net.init_in(1);
    net
}

fn forward<M: Model<f32>>(n: usize) {
    let net = init::<M>();
    let xs = inputs::<M>(2);
    for i in 0..n {
        black_box(net.forward(black_box(&xs[i % BATCH])));
    }
}

fn forward_backward<M: Train<f32>>(n: usize) {
    let net = init::<M>();
    let mut grads = Box::new(M::zeros());
    let xs = inputs::<M>(2);
    let mut tape = Box::new(M::new_tape());
    for i in 0..n {
        let y = net.forward_train(black_box(&xs[i % BATCH]), &mut tape);
        black_box(net.backward(&tape, &y, &mut grads));
    }
}

fn step<M: Train<f32> + Clone>(n: usize, binary: bool) {
    let initial = init::<M>();
    let mut net = initial.clone();
    let (xs, ys) = (inputs::<M>(2), targets(3, binary));
    let mut trainer: Box<Trainer<f32, M, Adam<M>, 8>> =
        Trainer::boxed_chunked(Adam::new(AdamConfig::default()));
    for i in 0..n {
        // As benches/train.rs: a fresh start every 32 steps, so the run
        // never memorises the batch into subnormal moments.
        if i % 32 == 0 {
            net.clone_from(&initial);
        }
        let loss = if binary {
            trainer.step(&mut net, &BinaryCrossEntropy, black_box(&xs), &ys)
        } else {
            trainer.step(&mut net, &MeanSquaredError, black_box(&xs), &ys)
        };
        black_box(loss.expect("finite loss"));
    }
}

/// The layer-major step `fit` runs (`Trainer::step_layers`, each layer over
/// the whole batch).
fn step_layers<M: Train<f32> + Clone>(n: usize, binary: bool)
where
    M::Tape: staticnet::Zeroable,
    M::Output: staticnet::Zeroable,
{
    let initial = init::<M>();
    let mut net = initial.clone();
    let (xs, ys) = (inputs::<M>(2), targets(3, binary));
    let mut trainer: Box<Trainer<f32, M, Adam<M>>> =
        Trainer::boxed(Adam::new(AdamConfig::default()));
    let mut memory: Box<BatchMemory<f32, M, BATCH>> = BatchMemory::boxed();
    for i in 0..n {
        if i % 32 == 0 {
            net.clone_from(&initial);
        }
        let loss = if binary {
            trainer.step_layers(&mut net, &BinaryCrossEntropy, black_box(&xs), &ys, &mut memory)
        } else {
            trainer.step_layers(&mut net, &MeanSquaredError, black_box(&xs), &ys, &mut memory)
        };
        black_box(loss.expect("finite loss"));
    }
}

fn lstm_step(n: usize) {
    let net = LstmNet::<f32>::init(1);
    let xs = inputs::<LstmNet<f32>>(2);
    let cols: Vec<_> = (0..32).map(|t| xs[0].column(t).into_owned()).collect();
    let mut s = LstmNetState::zeros();
    for i in 0..n {
        black_box(net.step(&mut s, black_box(&cols[i % 32])));
        if i % 32 == 31 {
            s.reset();
        }
    }
}

fn gru_step(n: usize) {
    let net = GruNet::<f32>::init(1);
    let xs = inputs::<GruNet<f32>>(2);
    let cols: Vec<_> = (0..32).map(|t| xs[0].column(t).into_owned()).collect();
    let mut s = GruNetState::zeros();
    for i in 0..n {
        black_box(net.step(&mut s, black_box(&cols[i % 32])));
        if i % 32 == 31 {
            s.reset();
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[2].parse().expect("iterations");
    match args[1].as_str() {
        "cnn_forward" => forward::<Cnn<f32>>(n),
        "lstm_forward" => forward::<LstmNet<f32>>(n),
        "lstm_step" => lstm_step(n),
        "gru_step" => gru_step(n),
        "cnn_forward_backward" => forward_backward::<Cnn<f32>>(n),
        "lstm_forward_backward" => forward_backward::<LstmNet<f32>>(n),
        "cnn_train_step" => step::<Cnn<f32>>(n, true),
        "lstm_train_step" => step::<LstmNet<f32>>(n, false),
        "cnn_train_step_layers" => step_layers::<Cnn<f32>>(n, true),
        "lstm_train_step_layers" => step_layers::<LstmNet<f32>>(n, false),
        "gru_train_step_layers" => step_layers::<GruNet<f32>>(n, false),
        w => panic!("unknown workload {w}"),
    }
}
