// KWS's first convolution is 10×4 in the quantized file; a 3×3 kernel in
// the DSL is caught on the weight's shape and on the file's `kernel`.
use staticnet::model;

model! {
    #[int8 = "../fixtures/int8/kws.safetensors"]
    pub struct Kws {
        input: [1, 49, 10],
        conv2d: Conv2d(64, kernel = (3, 3), stride = (2, 2), padding = same, activation = relu),
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

fn main() {
    let _ = KwsInt8::weights();
}
