// AD: tests/mlperf/ad.rs's float DSL with `#[int8]` (it has no softmax to
// split off); tests/int8_model.rs's `dsl_is_the_float_one` checks that line
// by line.
//
// `include!`d by tests/int8_model.rs (bit for bit against both TFLite
// interpreters, 101 inputs) and benches/int8.rs; the includer brings
// `staticnet::model` into scope. The file's path is relative to this
// file's directory.

model! {
    #[int8 = "../fixtures/int8/ad.safetensors"]
    pub struct AnomalyAutoencoder {
        input: [640],
        dense: Dense(128, activation = linear),
        batch_normalization: BatchNorm(eps = 0.001, momentum = 0.01),
        activation: Relu,
        dense_1: Dense(128, activation = linear),
        batch_normalization_1: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_1: Relu,
        dense_2: Dense(128, activation = linear),
        batch_normalization_2: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_2: Relu,
        dense_3: Dense(128, activation = linear),
        batch_normalization_3: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_3: Relu,
        dense_4: Dense(8, activation = linear),
        batch_normalization_4: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_4: Relu,
        dense_5: Dense(128, activation = linear),
        batch_normalization_5: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_5: Relu,
        dense_6: Dense(128, activation = linear),
        batch_normalization_6: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_6: Relu,
        dense_7: Dense(128, activation = linear),
        batch_normalization_7: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_7: Relu,
        dense_8: Dense(128, activation = linear),
        batch_normalization_8: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_8: Relu,
        dense_9: Dense(640, activation = linear),
    }
}
