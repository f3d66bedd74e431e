use staticnet::{model, Model, Tensor};

model! {
    struct Net {
        input: [1, 8, 8],
        conv1: Conv2d(4, kernel = 3),
        flat: Flatten,
        out: Dense(2),
    }
}

fn main() {
    let net = Net::<f32>::init(0);
    let x: staticnet::Image<f32, 1, 10, 10> = Tensor::zeros();
    let _ = net.forward(&x);
}
