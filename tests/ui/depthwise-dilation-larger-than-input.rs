use staticnet::model;

model! {
    struct Net {
        input: [3, 8, 8],
        dw: DepthwiseConv2d(kernel = 3, dilation = 4),
    }
}

fn main() {}
