//! examples/fashion_mnist.rs' network, said once: the example trains it,
//! benches/train.rs times its training step.

use staticnet::model;

model! {
    /// A DS-CNN with residual blocks for 28×28 images: a stride-2 stem,
    /// a residual depthwise-separable block at 14×14, a stride-2
    /// depthwise-separable block to 7×7 and a residual one there, then
    /// Dropout and the classifier on the flattened 32×7×7 features.
    pub struct FashionNet {
        input: [1, 28, 28],
        stem:  Conv2d(16, kernel = 3, stride = 2, padding = same, bias = false),
        bn0:   BatchNorm,
        r0:    Relu,
        // Block 1 at 14×14, residual around it.
        dw1:   DepthwiseConv2d(kernel = 3, padding = same, bias = false),
        bn1a:  BatchNorm,
        r1a:   Relu,
        pw1:   Conv2d(16, kernel = 1, bias = false),
        bn1b:  BatchNorm,
        add1:  Add(bn1b, r0),
        r1:    Relu,
        // Block 2: stride 2 to 7×7, 16 → 32 channels.
        dw2:   DepthwiseConv2d(kernel = 3, stride = 2, padding = same, bias = false),
        bn2a:  BatchNorm,
        r2a:   Relu,
        pw2:   Conv2d(32, kernel = 1, bias = false),
        bn2b:  BatchNorm,
        r2:    Relu,
        // Block 3 at 7×7, residual around it.
        dw3:   DepthwiseConv2d(kernel = 3, padding = same, bias = false),
        bn3a:  BatchNorm,
        r3a:   Relu,
        pw3:   Conv2d(32, kernel = 1, bias = false),
        bn3b:  BatchNorm,
        add3:  Add(bn3b, r2),
        r3:    Relu,
        flat:  Flatten,
        drop:  Dropout(0.2),
        out:   Dense(10, activation = softmax),
    }
}
