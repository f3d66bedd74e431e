// KWS: DS-CNN (mlperf-tiny/kws/kws_ref_model_int8.tflite, dequantized),
// as tools/make_mlperf_fixtures.py prints it.
//
// One model per file, `include!`d by tests/mlperf.rs, benches/mlperf.rs and
// the one-model crates whose release build tools/bench_mlperf.sh times;
// the includer brings `staticnet::model` into scope.

model! {
    /// KWS DS-CNN (keras_model.py's `ds_cnn`) as its int8 .tflite holds it:
    /// there is no float Keras file, so the weights are the .tflite's
    /// dequantized per output channel (w = s (q − z), int32 biases s q) by
    /// tools/make_mlperf_fixtures.py. The TFLite converter folded every
    /// BatchNormalization into the convolution before it and fused the
    /// ReLU, and dropped the Dropouts, so this model has no BatchNorm,
    /// Dropout or Relu layers: each convolution carries its folded bias and
    /// `activation = relu`, as the .tflite graph does.
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
        dense: Dense(12, activation = softmax),
    }
}
