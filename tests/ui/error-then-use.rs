use staticnet::{model, Model, Tensor};

model! {
    /// A network with a mistake: the program using it sees that one error.
    pub struct Net {
        input: [4],
        fc1: Dense(0),
    }
}

fn main() {
    let net = Net::<f32>::init(0);
    let y = net.forward(&Tensor::zeros());
    assert_eq!(y.len(), 1);
    assert_eq!(Net::<f32>::PARAMS, 5);
}
