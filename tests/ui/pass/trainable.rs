// `trainable` on every kind with parameters, `true` (the default) or
// `false`, in any position among the options.
use staticnet::{model, Model};

model! {
    struct Net {
        input: [1, 8, 8],
        conv1: Conv2d(2, trainable = false, kernel = 3),
        bn: BatchNorm(trainable = true),
        flat: Flatten,
        fc1: Dense(4, activation = relu, trainable = false),
        fc2: Dense(2, trainable = true),
    }
}

fn main() {
    assert_eq!(<Net<f32> as Model<f32>>::FROZEN_LAYERS, ["conv1", "fc1"]);
}
