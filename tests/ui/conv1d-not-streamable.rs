use staticnet::model;

// Only a stride-1 causal Conv1d streams: with `padding = same` an output
// step reads future inputs, so the model has no `step` (and no state type).
model! {
    struct Net {
        input: [8, 2],
        c: Conv1d(3, kernel = 3, padding = same),
        l: Lstm(4),
    }
}

fn main() {
    let m = Net::<f32>::zeros();
    let mut state = NetState::zeros();
    let _ = m.step(&mut state, &staticnet::Vector::<f32, 2>::zeros());
}
