//! `examples/basic_motions.rs`' training run (the same file, seeds and
//! data) reaches at least 95% on BasicMotions' 40 test recordings, and
//! streaming every test recording step by step ends exactly at `forward`'s
//! output.
//!
//! The threshold is the requirement (issue 11), not a number read off a
//! staticnet run: 95% is 38 of the 40 test recordings.

#[path = "../examples/common/basic_motions.rs"]
mod basic_motions;

use basic_motions::{BasicMotionsGruState, STEPS};
use staticnet::Vector;

#[test]
fn gru_reaches_95_percent_and_streams_exactly() {
    let data = basic_motions::load().expect("data/basic_motions");
    assert_eq!((data.x_train.len(), data.x_test.len()), (40, 40));
    for labels in [&data.y_train, &data.y_test] {
        for class in 0..4 {
            assert_eq!(labels.iter().filter(|&&y| y == class).count(), 10);
        }
    }
    let (model, history, accuracy) = basic_motions::train(&data, 0).expect("fit");
    assert_eq!(history.loss.len(), basic_motions::EPOCHS);
    assert!(
        accuracy >= 0.95,
        "test accuracy {:.2}% is below 95%",
        100.0 * accuracy
    );
    for (i, x) in data.x_test.iter().enumerate() {
        let mut state = BasicMotionsGruState::<f32>::zeros();
        let mut y = Vector::<f32, 4>::zeros();
        for t in 0..STEPS {
            y = model.step(&mut state, &x.column(t).into_owned());
        }
        assert_eq!(y, model.forward(x), "test recording {i}");
    }
}
