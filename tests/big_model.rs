//! A model too big for a thread's stack (16.8 MB of f32 parameters, in a
//! 2 MiB thread) is built, initialised, loaded, given optimizers and
//! trained with the heap constructors, which never build it on the stack
//! first. Before them the only way was
//! `unsafe { Box::new_zeroed().assume_init() }` + `init_in`: `init`,
//! `Box::new(init(..))`, `load` and (in a debug build) `Adam::boxed`
//! overflowed the stack ("has overflowed its stack", an abort). The
//! optimizers' `boxed` now makes their state in place with
//! `Model::zeros_in` (zero bytes for a generated model).
//!
//! The heap constructors allocate zeroed memory (`alloc_zeroed`), so
//! they are equally safe in every profile; this test runs in whichever
//! `cargo test` builds (`[profile.test]`, opt-level 1) and under
//! `--release`.

use staticnet::fit::{fit, FitConfig};
use staticnet::loss::MeanSquaredError;
use staticnet::metrics::NoMetric;
use staticnet::optim::{
    Adam, AdamConfig, AdamW, AdamWConfig, RmsProp, RmsPropConfig, Sgd, SgdConfig,
};
use staticnet::{model, Model, Trainer, Vector, Weights};

model! {
    /// 2048 × 2048 weights + 2048 biases: 4,196,352 parameters, 16.8 MB in
    /// f32.
    pub struct Big {
        input: [2048],
        fc: Dense(2048),
    }
}

const STACK: usize = 2 << 20;

/// Runs `f` in a thread with a 2 MiB stack (a stack overflow aborts the
/// whole test binary, which fails the test).
fn in_small_thread(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("the thread panicked");
}

#[test]
fn the_model_is_bigger_than_the_thread_stack() {
    assert_eq!(<Big as Model<f32>>::PARAMS, 4_196_352);
    const { assert!(<Big as Model<f32>>::STACK_BYTES >= 16 << 20) };
    const { assert!(<Big as Model<f32>>::STACK_BYTES > 8 * STACK) };
    const { assert!(<Big as Model<f32>>::TOO_BIG_FOR_STACK) };
    let summary = <Big as Model<f32>>::summary().to_string();
    assert!(summary.contains("boxed_init"), "{summary}");
}

#[test]
fn boxed_zeros_and_boxed_init_in_a_2_mib_thread() {
    in_small_thread(|| {
        let z = Big::<f32>::boxed_zeros();
        assert!(z.fc.weight.iter().all(|&v| v == 0.0));
        let m = Big::<f32>::boxed_init(7);
        // Glorot-uniform: every weight within ±sqrt(6 / (2048 + 2048)),
        // not all zero; biases zero.
        let limit = (6.0f32 / 4096.0).sqrt();
        assert!(m.fc.weight.iter().all(|v| v.abs() <= limit));
        assert!(m.fc.weight.iter().any(|&v| v != 0.0));
        assert!(m.fc.bias.iter().all(|&v| v == 0.0));
        // The same values as `init_in` on a model built some other way.
        let mut again = Big::<f32>::boxed_zeros();
        again.init_in(7);
        assert!(*again == *m);
    });
}

#[test]
fn boxed_load_in_a_2_mib_thread() {
    let dir = std::env::temp_dir().join(format!("staticnet-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.safetensors");
    let missing = dir.join("missing.safetensors");
    let p = path.clone();
    in_small_thread(move || {
        let m = Big::<f32>::boxed_init(3);
        m.save(&p).unwrap();
        let back = Big::<f32>::boxed_load(&p).unwrap();
        assert!(*back == *m);
        // A missing file is an error, not an overflow.
        let e = Big::<f32>::boxed_load(&missing).unwrap_err();
        assert!(e.to_string().contains("missing.safetensors"), "{e}");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn optimizers_trainer_and_fit_in_a_2_mib_thread() {
    in_small_thread(|| {
        let mut m = Big::<f32>::boxed_init(1);
        let adam = Adam::<Big<f32>>::boxed_zeroed(AdamConfig::default());
        assert_eq!(adam.steps(), 0);
        assert_eq!(adam.config, AdamConfig::default());
        let sgd = Sgd::<Big<f32>>::boxed_zeroed(SgdConfig {
            lr: 0.5,
            ..Default::default()
        });
        assert_eq!(sgd.config.lr, 0.5);
        let rms = RmsProp::<Big<f32>>::boxed_zeroed(RmsPropConfig::default());
        assert_eq!(rms.steps(), 0);
        drop((sgd, rms));

        // Two samples through fit: its gradient accumulator is made on the
        // heap too.
        let x = vec![Vector::<f32, 2048>::from_element(0.01); 2];
        let y = vec![Vector::<f32, 2048>::from_element(1.0); 2];
        let mut adam = adam;
        let h = fit(
            &mut *m,
            &mut *adam,
            &MeanSquaredError,
            &NoMetric,
            &x,
            &y,
            &FitConfig {
                epochs: 2,
                batch_size: 2,
                verbose: 0,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(h.loss[1] < h.loss[0], "{:?}", h.loss);
        assert_eq!(adam.steps(), 2);

        // A Trainer whose optimizer is itself boxed: nothing model-sized
        // passes through the stack.
        let mut t = Trainer::<f32, Big<f32>, Box<Sgd<Big<f32>>>>::boxed_zeroed(Sgd::boxed_zeroed(
            SgdConfig::default(),
        ));
        t.step(&mut *m, &MeanSquaredError, &x, &y).unwrap();
        assert_eq!(t.optimizer.steps(), 1);
    });
}

#[test]
fn optimizers_boxed_are_heap_direct_in_a_2_mib_thread() {
    // Each optimizer holds one to three model-sized buffers (16.8 MB each):
    // if `boxed` built any of them on the stack first, the 2 MiB thread
    // would overflow (an abort of the whole test binary).
    in_small_thread(|| {
        let adam = Adam::<Big<f32>>::boxed(AdamConfig::default());
        assert_eq!(adam.steps(), 0);
        assert!(adam.moments().0.fc.weight.iter().all(|&v| v == 0.0));
        assert!(adam.moments().1.fc.bias.iter().all(|&v| v == 0.0));
        let adamw = AdamW::<Big<f32>>::boxed(AdamWConfig::default());
        assert_eq!(adamw.steps(), 0);
        assert!(adamw.moments().1.fc.weight.iter().all(|&v| v == 0.0));
        let sgd = Sgd::<Big<f32>>::boxed(SgdConfig {
            lr: 0.25,
            ..Default::default()
        });
        assert_eq!(sgd.config.lr, 0.25);
        let rms = RmsProp::<Big<f32>>::boxed(RmsPropConfig::default());
        assert_eq!(rms.steps(), 0);
    });
}
