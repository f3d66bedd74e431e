use staticnet::model;

model! {
    struct Net {
        input: [3, 8, 8],
        dw: DepthwiseConv2d(kernel = 3, depth_multiplier = 0),
    }
}

fn main() {}
