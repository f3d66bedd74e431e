// An LSTM has no int8 form: the error is on the layer (and on the sequence
// input), and the float model is still generated.
use staticnet::model;

model! {
    #[int8 = "../fixtures/int8/tiny.safetensors"]
    pub struct Recurrent {
        input: [10, 4],
        lstm: Lstm(8),
        head: Dense(1, activation = sigmoid),
    }
}

fn main() {
    let _ = Recurrent::<f32>::init(0);
}
