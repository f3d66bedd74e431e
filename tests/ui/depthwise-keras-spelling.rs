use staticnet::model;

model! {
    struct Net {
        input: [3, 8, 8],
        dw: DepthwiseConv2D(kernel = 3),
    }
}

fn main() {}
