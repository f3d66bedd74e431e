//! A weights file that does not fit the model gives one error listing
//! every bad tensor (before: one error per tensor, found one load at a
//! time: 14 tries for a wrong file, 12 for renamed layers).

use staticnet::{model, LoadError, Weights};

model! {
    pub struct Net {
        input: [3],
        fc1: Dense(4, activation = relu),
        fc2: Dense(2),
    }
}

model! {
    /// `Net` with its first layer renamed.
    pub struct Renamed {
        input: [3],
        dense1: Dense(4, activation = relu),
        fc2: Dense(2),
    }
}

model! {
    /// `Net` with a wider first layer: three tensors of other shapes.
    pub struct Wider {
        input: [3],
        fc1: Dense(5, activation = relu),
        fc2: Dense(2),
    }
}

#[test]
fn renamed_layers_are_one_error_with_a_hint() {
    let bytes = Renamed::<f32>::init(1).to_safetensors();
    let mut m = Net::<f32>::init(2);
    let before = m.clone();
    let e = m
        .load_safetensors_into(&bytes, Default::default())
        .unwrap_err();
    let LoadError::Many(errors) = &e else {
        panic!("{e:?}");
    };
    assert_eq!(errors.len(), 4, "{e}");
    assert!(matches!(
        errors[0],
        LoadError::Missing {
            name: "fc1.weight",
            ..
        }
    ));
    assert!(matches!(
        errors[1],
        LoadError::Missing {
            name: "fc1.bias",
            ..
        }
    ));
    assert!(matches!(&errors[2], LoadError::Unexpected { name, .. } if name == "dense1.bias"));
    assert!(matches!(&errors[3], LoadError::Unexpected { name, .. } if name == "dense1.weight"));
    assert_eq!(
        e.to_string(),
        "4 tensors do not match the model:\n  \
         - missing tensor `fc1.weight`: the model expects shape [4, 3]\n  \
         - missing tensor `fc1.bias`: the model expects shape [4]\n  \
         - unexpected tensor `dense1.bias` [4] is not a parameter of the model \
         (use `LoadOptions::allow_extra` to skip tensors the model does not have)\n  \
         - unexpected tensor `dense1.weight` [4, 3] is not a parameter of the model \
         (use `LoadOptions::allow_extra` to skip tensors the model does not have)\n  \
         hint: `dense1.weight` in the file has the shape of the missing `fc1.weight`: \
         was the layer renamed? The names must be the model's layer names (`fc1.weight`)"
    );
    assert_eq!(m, before);
}

#[test]
fn every_wrong_shape_is_listed() {
    let bytes = Wider::<f32>::init(1).to_safetensors();
    let e = Net::<f32>::from_safetensors(&bytes).unwrap_err();
    let LoadError::Many(errors) = &e else {
        panic!("{e:?}");
    };
    let names: Vec<&str> = errors
        .iter()
        .map(|e| match e {
            LoadError::Shape { name, .. } => *name,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight"]);
    assert!(
        e.to_string()
            .starts_with("3 tensors do not match the model:"),
        "{e}"
    );
    // A file with one bad tensor still gives that tensor's own error.
    let mut one = Net::<f32>::init(1);
    one.fc2.bias[0] = 1.0;
    let good = one.to_safetensors();
    assert!(Net::<f32>::from_safetensors(&good).is_ok());
    // The same through boxed_load from a file.
    let path = std::env::temp_dir().join(format!(
        "staticnet-wider-{}.safetensors",
        std::process::id()
    ));
    std::fs::write(&path, &bytes).unwrap();
    let e2 = Net::<f32>::boxed_load(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(e2.to_string(), e.to_string());
}
