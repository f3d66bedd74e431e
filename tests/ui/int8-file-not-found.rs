use staticnet::model;

model! {
    #[int8 = "no/such/model_int8.safetensors"]
    pub struct Tiny {
        input: [8],
        dense: Dense(3),
    }
}

fn main() {}
