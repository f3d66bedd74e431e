//! examples/fashion_mnist.rs's `FashionNet` with its int8 form (`#[int8]`):
//! the same layers and tensor names, so its trained float weights load,
//! except that the classifier's `Dense(10, activation = softmax)` is
//! written `out: Dense(10)` + `softmax: Softmax`, as TFLite's int8 graph
//! has it (its int8 softmax has a quantization of its own). Shared by
//! examples/fashion_mnist_int8.rs and tests/ptq_fashion.rs.

/// `FashionNet` with a separate softmax, under the int8 attribute given
/// (`#[int8]`, or `#[int8 = "file"]` for the compiled-in form).
macro_rules! fashion_net8 {
    ($name:ident, #[$($int8:tt)*]) => {
        ::staticnet::model! {
            /// `FashionNet` (examples/fashion_mnist.rs) with a separate
            /// softmax, and its int8 form.
            #[$($int8)*]
            pub struct $name {
                input: [1, 28, 28],
                stem:  Conv2d(16, kernel = 3, stride = 2, padding = same, bias = false),
                bn0:   BatchNorm,
                r0:    Relu,
                dw1:   DepthwiseConv2d(kernel = 3, padding = same, bias = false),
                bn1a:  BatchNorm,
                r1a:   Relu,
                pw1:   Conv2d(16, kernel = 1, bias = false),
                bn1b:  BatchNorm,
                add1:  Add(bn1b, r0),
                r1:    Relu,
                dw2:   DepthwiseConv2d(kernel = 3, stride = 2, padding = same, bias = false),
                bn2a:  BatchNorm,
                r2a:   Relu,
                pw2:   Conv2d(32, kernel = 1, bias = false),
                bn2b:  BatchNorm,
                r2:    Relu,
                dw3:   DepthwiseConv2d(kernel = 3, padding = same, bias = false),
                bn3a:  BatchNorm,
                r3a:   Relu,
                pw3:   Conv2d(32, kernel = 1, bias = false),
                bn3b:  BatchNorm,
                add3:  Add(bn3b, r2),
                r3:    Relu,
                flat:  Flatten,
                drop:  Dropout(0.2),
                out:   Dense(10),
                softmax: Softmax,
            }
        }
    };
}

fashion_net8!(FashionNet8, #[int8]);

/// The calibration set's size: the first `CALIBRATION` training images.
pub const CALIBRATION: usize = 1000;
