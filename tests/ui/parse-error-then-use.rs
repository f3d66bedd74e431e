use staticnet::{model, Model, Tensor};

model! {
    pub struct Net {
        input: [4]
        fc1: Dense(2),
    }
}

fn main() {
    let net = Net::<f32>::init(0);
    let y = net.forward(&Tensor::zeros());
    assert_eq!(y.len(), 2);
}
