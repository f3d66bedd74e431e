// IC: tests/mlperf/ic.rs's float DSL with `#[int8]` and the softmax split
// off (TFLite's int8 softmax is an operator of its own, with its own
// quantization); tests/int8_model.rs's `dsl_is_the_float_one` checks that
// line by line.
//
// `include!`d by tests/int8_model.rs (bit for bit against both TFLite
// interpreters, 101 inputs) and tests/thumb/src/int8.rs (the Cortex-M
// boards); the includer brings `staticnet::model` into scope. The path is
// relative to this file's directory (or to the crate's, which for
// tests/thumb is the same file).

model! {
    #[int8 = "../fixtures/int8/ic.safetensors"]
    pub struct ResNet8 {
        input: [3, 32, 32],
        conv2d: Conv2d(16, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
        batch_normalization: BatchNorm(eps = 0.001, momentum = 0.01),
        activation: Relu,
        conv2d_1: Conv2d(16, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
        batch_normalization_1: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_1: Relu,
        conv2d_2: Conv2d(16, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
        batch_normalization_2: BatchNorm(eps = 0.001, momentum = 0.01),
        add: Add(activation, batch_normalization_2),
        activation_2: Relu,
        conv2d_3: Conv2d(32, kernel = (3, 3), stride = (2, 2), padding = same, activation = linear),
        batch_normalization_3: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_3: Relu,
        conv2d_4: Conv2d(32, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
        conv2d_5: Conv2d(32, kernel = (1, 1), stride = (2, 2), padding = same, activation = linear)(activation_2),
        batch_normalization_4: BatchNorm(eps = 0.001, momentum = 0.01)(conv2d_4),
        add_1: Add(conv2d_5, batch_normalization_4),
        activation_4: Relu,
        conv2d_6: Conv2d(64, kernel = (3, 3), stride = (2, 2), padding = same, activation = linear),
        batch_normalization_5: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_5: Relu,
        conv2d_7: Conv2d(64, kernel = (3, 3), stride = (1, 1), padding = same, activation = linear),
        conv2d_8: Conv2d(64, kernel = (1, 1), stride = (2, 2), padding = same, activation = linear)(activation_4),
        batch_normalization_6: BatchNorm(eps = 0.001, momentum = 0.01)(conv2d_7),
        add_2: Add(conv2d_8, batch_normalization_6),
        activation_6: Relu,
        average_pooling2d: AvgPool2d((8, 8), stride = (8, 8)),
        flatten: Flatten,
        dense: Dense(10),
        softmax: Softmax,
    }
}
