// KWS: tests/mlperf/kws.rs's float DSL with `#[int8]` and the softmax split
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
    /// KWS DS-CNN (keras_model.py's `ds_cnn`) as its int8 .tflite holds it:
    /// there is no float Keras file, so the weights are the .tflite's
    /// dequantized per output channel (w = s (q − z), int32 biases s q) by
    /// tools/make_mlperf_fixtures.py. The TFLite converter folded every
    /// BatchNormalization into the convolution before it and fused the
    /// ReLU, and dropped the Dropouts, so this model has no BatchNorm,
    /// Dropout or Relu layers: each convolution carries its folded bias and
    /// `activation = relu`, as the .tflite graph does.
    #[int8 = "../fixtures/int8/kws.safetensors"]
    pub struct KwsDsCnn {
        input: [1, 49, 10],
        conv2d: Conv2d(64, kernel = (10, 4), stride = (2, 2), padding = same, activation = relu),
        depthwise_conv2d: DepthwiseConv2d(kernel = (3, 3), stride = (1, 1), padding = same, activation = relu),
        conv2d_1: Conv2d(64, kernel = (1, 1), stride = (1, 1), padding = same, activation = relu),
        depthwise_conv2d_1: DepthwiseConv2d(kernel = (3, 3), stride = (1, 1), padding = same, activation = relu),
        conv2d_2: Conv2d(64, kernel = (1, 1), stride = (1, 1), padding = same, activation = relu),
        depthwise_conv2d_2: DepthwiseConv2d(kernel = (3, 3), stride = (1, 1), padding = same, activation = relu),
        conv2d_3: Conv2d(64, kernel = (1, 1), stride = (1, 1), padding = same, activation = relu),
        depthwise_conv2d_3: DepthwiseConv2d(kernel = (3, 3), stride = (1, 1), padding = same, activation = relu),
        conv2d_4: Conv2d(64, kernel = (1, 1), stride = (1, 1), padding = same, activation = relu),
        average_pooling2d: AvgPool2d((25, 5), stride = (25, 5)),
        flatten: Flatten,
        dense: Dense(12),
        softmax: Softmax,
    }
}
