use staticnet::{model, Model, Tensor, Train};

model! {
    /// A network with a mistake: the program using it sees that one error.
    pub struct Net {
        input: [4],
        fc1: Dense(0),
    }
}

fn main() {
    let net = Net::<f32>::init(0);
    let x = Tensor::zeros();
    let y = net.forward(&x);
    assert_eq!(y.len(), 1);
    assert_eq!(Net::<f32>::PARAMS, 5);
    let mut grads = Net::<f32>::zeros();
    let mut tape = Net::<f32>::new_tape();
    let y = net.forward_train(&x, &mut tape);
    let _dx = net.backward(&tape, &y, &mut grads);
}
