//! The textbook CNN: build it, print its summary, run a forward pass on a
//! random input.

use staticnet::{model, Model, Rng, Tensor};

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

fn main() {
    println!("{}", SeedCnn::<f32>::summary());
    let net = SeedCnn::<f32>::init(42);
    let mut rng = Rng::new(7);
    let mut x = <SeedCnn as Model<f32>>::Input::zeros();
    for v in x.as_flat_mut() {
        *v = rng.uniform() as f32;
    }
    let y = net.forward(&x);
    println!("forward on a random 10×10 image: {:.6}", y[0]);
}
