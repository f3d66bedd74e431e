// IC: ResNet-8 (mlperf-tiny/ic/pretrainedResnet.h5), as
// tools/make_mlperf_fixtures.py's converter prints it.
//
// One model per file, `include!`d by tests/mlperf.rs, benches/mlperf.rs and
// the one-model crates whose release build tools/bench_mlperf.sh times;
// the includer brings `staticnet::model` into scope.

model! {
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
        dense: Dense(10, activation = softmax),
    }
}
