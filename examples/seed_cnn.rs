//! The textbook program, end to end: a small Keras-style CNN trained with
//! Adam and binary cross-entropy on 100 random 10×10 single-channel images
//! with random binary labels, then `predict` and `evaluate` on 10 more.
//!
//! The Keras original:
//!
//! ```python
//! model = Sequential([
//!     Conv2D(32, (3, 3), activation="relu", input_shape=(10, 10, 1)),
//!     MaxPooling2D((2, 2)),
//!     Flatten(),
//!     Dense(64, activation="relu"),
//!     Dense(1, activation="sigmoid"),
//! ])
//! model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
//! model.summary()
//! X_train = np.random.rand(100, 10, 10, 1); y_train = np.random.randint(2, size=(100, 1))
//! model.fit(X_train, y_train, epochs=10, batch_size=32)
//! X_test = np.random.rand(10, 10, 10, 1); y_test = np.random.randint(2, size=(10, 1))
//! print(model.predict(X_test))
//! loss, accuracy = model.evaluate(X_test, y_test)
//! ```
//!
//! The labels are random, so there is nothing to learn: training accuracy
//! rises as the network memorises the 100 samples, and test accuracy stays
//! near chance. Run with `cargo run --release --example seed_cnn`.

use staticnet::loss::BinaryCrossEntropy;
use staticnet::metrics::BinaryAccuracy;
use staticnet::optim::{Adam, AdamConfig};
use staticnet::{evaluate, fit, model, predict, FitConfig, Image, Model, Rng, Vector};
use std::time::Instant;

model! {
    /// The textbook's Keras CNN.
    pub struct SeedCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(1, activation = sigmoid),
    }
}

/// `n` images with pixels uniform in [0, 1) and labels 0 or 1 with equal
/// probability (NumPy's `rand` and `randint(2)`).
fn random_data(rng: &mut Rng, n: usize) -> (Vec<Image<f32, 1, 10, 10>>, Vec<Vector<f32, 1>>) {
    let mut x = vec![[[[0.0f32; 10]; 10]; 1]; n];
    for img in &mut x {
        for v in img.iter_mut().flatten().flatten() {
            *v = rng.uniform() as f32;
        }
    }
    let y = (0..n)
        .map(|_| Vector::<f32, 1>::new(rng.below(2) as f32))
        .collect();
    (x, y)
}

/// Time per step of a one-step call, as Keras prints it.
fn per_step(start: Instant) -> String {
    let t = start.elapsed().as_secs_f64();
    if t >= 1e-3 {
        format!("{:.0}ms/step", t * 1e3)
    } else {
        format!("{:.0}us/step", t * 1e6)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    print!("{}", SeedCnn::<f32>::summary());

    let mut rng = Rng::new(7);
    let (x_train, y_train) = random_data(&mut rng, 100);
    let (x_test, y_test) = random_data(&mut rng, 10);

    let mut model = SeedCnn::<f32>::init(42);
    let mut adam = Adam::boxed_zeroed(AdamConfig::default());
    let accuracy = BinaryAccuracy::default();
    fit(
        &mut model,
        &mut *adam,
        &BinaryCrossEntropy,
        &accuracy,
        &x_train,
        &y_train,
        &FitConfig {
            epochs: 10,
            batch_size: 32,
            seed: 1,
            ..Default::default()
        },
    )?;

    // Keras prints a one-line progress bar for predict and evaluate, then
    // the script prints the array of predictions.
    let start = Instant::now();
    let predictions = predict(&model, &x_test)?;
    println!(
        "1/1 [==============================] - 0s {}",
        per_step(start)
    );
    let rows: Vec<String> = predictions
        .iter()
        .map(|p| format!("[{:.8}]", p[0]))
        .collect();
    println!("[{}]", rows.join("\n "));

    let start = Instant::now();
    let test = evaluate(&model, &BinaryCrossEntropy, &accuracy, &x_test, &y_test)?;
    println!(
        "1/1 [==============================] - 0s {} - {test}",
        per_step(start)
    );
    let labels: Vec<String> = y_test.iter().map(|y| format!("{}", y[0])).collect();
    println!("Test labels: [{}]", labels.join(" "));
    println!(
        "Test accuracy: {:.4}",
        test.metric.map_or(f64::NAN, |(_, v)| v)
    );
    Ok(())
}
