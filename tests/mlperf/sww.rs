// SWW: the streaming wake word model (mlperf-tiny/sww/str_ww_ref_model.h5),
// as tools/make_mlperf_fixtures.py's converter prints it.
//
// One model per file, `include!`d by tests/mlperf.rs, benches/mlperf.rs and
// the one-model crates whose release build tools/bench_mlperf.sh times;
// the includer brings `staticnet::model` into scope.

model! {
    pub struct StreamingWakeWord {
        input: [40, 30, 1],
        depthwise_conv2d: DepthwiseConv2d(kernel = (3, 1), stride = (1, 1), padding = valid, bias = false, activation = linear),
        conv2d: Conv2d(128, kernel = (1, 1), stride = (1, 1), padding = valid, bias = false, activation = linear),
        batch_normalization: BatchNorm(eps = 0.001, momentum = 0.01),
        activation: Relu,
        dropout: Dropout(0.2),
        depthwise_conv2d_1: DepthwiseConv2d(kernel = (5, 1), stride = (1, 1), padding = valid, bias = false, activation = linear),
        conv2d_1: Conv2d(128, kernel = (1, 1), stride = (1, 1), padding = valid, bias = false, activation = linear),
        batch_normalization_1: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_1: Relu,
        dropout_1: Dropout(0.2),
        depthwise_conv2d_2: DepthwiseConv2d(kernel = (10, 1), stride = (1, 1), padding = valid, bias = false, activation = linear),
        conv2d_2: Conv2d(128, kernel = (1, 1), stride = (1, 1), padding = valid, bias = false, activation = linear),
        batch_normalization_2: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_2: Relu,
        dropout_2: Dropout(0.2),
        depthwise_conv2d_3: DepthwiseConv2d(kernel = (15, 1), stride = (1, 1), padding = valid, bias = false, activation = linear),
        conv2d_3: Conv2d(32, kernel = (1, 1), stride = (1, 1), padding = valid, bias = false, activation = linear),
        batch_normalization_3: BatchNorm(eps = 0.001, momentum = 0.01),
        activation_3: Relu,
        dropout_3: Dropout(0.2),
        flatten: Flatten,
        dense: Dense(3, activation = softmax),
    }
}
