//! A small residual depthwise-separable CNN (DS-CNN blocks with BatchNorm,
//! two residual `Add`s and Dropout) trained with `fit` (Adam) on the real
//! Fashion-MNIST: 60,000 training and 10,000 test 28×28 grey images of ten
//! kinds of clothing (Zalando Research, MIT licence), read from Debian's
//! package `dataset-fashion-mnist`:
//!
//! ```text
//! sudo apt-get install dataset-fashion-mnist    # → /usr/share/datasets/fashion-mnist/
//! cargo run --release --example fashion_mnist            # the full run
//! cargo run --release --example fashion_mnist -- --smoke # CI: 4,000 images, one epoch
//! cargo run --release --example fashion_mnist -- --save net.safetensors # keep the weights
//! ```
//!
//! (`FASHION_MNIST_DIR` points it at another directory holding the four
//! `*-idx?-ubyte.gz` files.) Pixels are scaled to [0, 1]; each epoch
//! mirrors a seeded random half of the training images left–right (the
//! only augmentation). The full run trains on all 60,000
//! training images and reports the accuracy on all 10,000 test images, the
//! wall time and the training samples per second; it fails below 90%. The
//! `--smoke` run trains one epoch on the first 4,000 training images and
//! fails below 60% on the test images (chance is 10%).
//!
//! BatchNorm and Dropout follow `fit`'s training semantics: the example
//! uses only `fit`'s public API, so it trains them however `fit` does.

#[path = "common/fashion_mnist.rs"]
mod fashion_mnist;

use fashion_mnist::{Picture, CLASSES};
use staticnet::loss::SparseCategoricalCrossEntropy;
use staticnet::metrics::SparseCategoricalAccuracy;
use staticnet::optim::{Adam, AdamConfig, Optimizer};
use staticnet::{confusion_matrix, evaluate, fit, FitConfig, Model, Rng, Schedule, Weights};
use std::error::Error;
use std::time::Instant;

#[path = "common/fashion_net.rs"]
mod fashion_net;
use fashion_net::FashionNet;

const INIT_SEED: u64 = 42;
const SHUFFLE_SEED: u64 = 1;
const FLIP_SEED: u64 = 2;

fn main() -> std::process::ExitCode {
    // Errors printed with `Display` (the missing-package message spans
    // lines), not `Debug` as a `main` returning `Result` would.
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    // `--save PATH`: the trained weights (and BatchNorm's running
    // statistics) as safetensors, PyTorch's state_dict names.
    let save = match args.iter().position(|a| a == "--save") {
        Some(i) => Some(args.get(i + 1).ok_or("--save needs a file name")?.clone()),
        None => None,
    };
    let epochs: usize = if smoke { 1 } else { 15 };
    let learning_rate = 0.003;

    let t = Instant::now();
    let (mut x_train, mut y_train) = fashion_mnist::load("train")?;
    let (x_test, y_test) = fashion_mnist::load("t10k")?;
    if smoke {
        x_train.truncate(4_000);
        y_train.truncate(4_000);
    }
    println!(
        "Fashion-MNIST from {}: {} train / {} test images (read in {:.1} s){}",
        fashion_mnist::data_dir().display(),
        x_train.len(),
        x_test.len(),
        t.elapsed().as_secs_f64(),
        if smoke {
            "; --smoke: the first 4,000 training images, one epoch"
        } else {
            ""
        }
    );
    print!("{}", FashionNet::<f32>::summary());

    let mut model = FashionNet::<f32>::boxed_init(INIT_SEED);
    let mut adam = Adam::boxed_zeroed(AdamConfig {
        lr: learning_rate,
        ..Default::default()
    });
    // One `fit` call per epoch, each on a freshly flipped copy of the
    // training images: every image is mirrored left–right with probability
    // 1/2 (seeded), the one augmentation used. The learning rate follows a
    // cosine from `learning_rate` to 1e-5 over the epochs (PyTorch's
    // CosineAnnealingLR, set on the optimizer before each call); Adam's
    // moments and step count carry over between the calls.
    let mut flip_rng = Rng::new(FLIP_SEED);
    let schedule = Schedule::Cosine {
        t_max: epochs,
        eta_min: 1e-5,
    };
    let start = Instant::now();
    for epoch in 0..epochs {
        let t = Instant::now();
        let lr = if smoke {
            learning_rate
        } else {
            schedule.lr(learning_rate, epoch)
        };
        adam.set_learning_rate(lr);
        let x_epoch: Vec<Picture> = x_train
            .iter()
            .map(|img| {
                if flip_rng.uniform() < 0.5 {
                    let mut m = *img;
                    for row in m[0].iter_mut() {
                        row.reverse();
                    }
                    m
                } else {
                    *img
                }
            })
            .collect();
        let history = fit(
            &mut *model,
            &mut *adam,
            &SparseCategoricalCrossEntropy,
            &SparseCategoricalAccuracy,
            &x_epoch,
            &y_train,
            &FitConfig {
                epochs: 1,
                batch_size: 32,
                seed: SHUFFLE_SEED + epoch as u64,
                verbose: 0,
                ..Default::default()
            },
        )?;
        println!(
            "Epoch {:>2}/{epochs} - {:.0}s - lr {lr:.2e} - loss: {:.4} - accuracy: {:.4}",
            epoch + 1,
            t.elapsed().as_secs_f64(),
            history.loss[0],
            history.metric[0],
        );
    }
    let train_secs = start.elapsed().as_secs_f64();
    let samples = (epochs * x_train.len()) as f64;

    let t = Instant::now();
    let test = evaluate(
        &*model,
        &SparseCategoricalCrossEntropy,
        &SparseCategoricalAccuracy,
        &x_test,
        &y_test,
    )?;
    let test_secs = t.elapsed().as_secs_f64();
    let accuracy = test.metric.map_or(0.0, |(_, v)| v);
    let cm = confusion_matrix(&*model, &x_test, &y_test)?;
    println!("Test confusion matrix (rows: true class, columns: predicted):\n{cm}");
    for (c, name) in CLASSES.iter().enumerate() {
        println!("  {c} {name:<12} recall {:.1}%", 100.0 * cm.recall(c));
    }
    println!("Test {test}");
    println!(
        "Test accuracy: {:.2}% ({} of {}); training: {epochs} epoch(s) in {train_secs:.1} s \
         ({:.0} samples/s), test forward {:.0} images/s",
        100.0 * accuracy,
        (accuracy * x_test.len() as f64).round(),
        x_test.len(),
        samples / train_secs,
        x_test.len() as f64 / test_secs,
    );

    if let Some(path) = &save {
        model.save(path)?;
        println!("Weights written to {path}");
    }

    let need = if smoke { 0.60 } else { 0.90 };
    if accuracy < need {
        return Err(format!(
            "test accuracy {:.2}% is below {:.0}%",
            100.0 * accuracy,
            100.0 * need
        )
        .into());
    }
    Ok(())
}
