//! The textbook CNN and an LSTM forecaster as firmware: a `#![no_std]`,
//! heap-free static library with a C API (`include/staticnet_firmware.h`).
//!
//! - Weights are compiled in from the committed PyTorch fixtures and sit in
//!   read-only data (flash): [`CNN`] and [`LSTM`].
//! - `sn_cnn_predict` / `sn_lstm_predict` run a whole input; `sn_lstm_step`
//!   runs the LSTM one time step at a time (for a control or audio loop),
//!   with its recurrent state in a static ([`LSTM_STATE`]).
//! - `sn_cnn_train_step` fine-tunes a RAM copy of the CNN on one labelled
//!   sample (binary cross-entropy from the logit, Adam); the copy, its
//!   gradient, the tape and Adam's moments are one static
//!   ([`CNN_TRAINING`]), zero (`.bss`) until the first training call or
//!   `sn_cnn_train_reset` copies the compiled-in weights into it.
//!
//! Nothing is allocated and nothing large is built on the stack: the
//! statics are zero-initialised at load time and then written in place.
//!
//! # The C boundary without `unsafe`
//!
//! Every pointer parameter is an `Option<&[f32; N]>` (or `Option<&mut f32>`)
//! of the documented fixed size. Rust guarantees that `Option<&T>` has the
//! ABI of a C pointer with null as `None`, so a null pointer is rejected
//! with `SN_ERR_NULL` and the length is in the type: the functions need no
//! `unsafe` and no `slice::from_raw_parts`. The C caller's side of the
//! contract is the one `from_raw_parts` would state: each non-null pointer
//! points to that many `float`s, readable (writable for outputs), and an
//! output does not overlap an input. The header states it.
//!
//! # Mutable statics
//!
//! The streaming state and the training state live in [`Exclusive`] cells:
//! an `UnsafeCell` plus an `AtomicBool` "in use" flag. A call takes the flag
//! with a compare-exchange and gives `&mut` access only while it holds it;
//! a second call that arrives meanwhile (an interrupt handler calling in,
//! or a second thread) does not wait (a spin would deadlock an interrupt
//! that preempted the holder) but returns `SN_ERR_BUSY` and changes
//! nothing. This is all of the crate's `unsafe` but one: a block in
//! [`Exclusive::with`], the `Sync` impl, and the two zero-initialised
//! statics, each with its argument; the other is the panic handler's call
//! to C's `abort`.
//!
//! Targets without compare-and-swap (Cortex-M0/M0+, `thumbv6m`) have no
//! `AtomicBool::compare_exchange`; there the flag is tested and set inside
//! a critical section (`cortex_m::interrupt::free`: interrupts masked for
//! those few instructions), selected by `cfg(target_has_atomic = "8")`.
//! The C API is the same on every target.
#![no_std]
#![warn(missing_docs)]

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};
use staticnet::loss::BinaryCrossEntropy;
use staticnet::optim::{Adam, AdamConfig, Optimizer};
use staticnet::{model, Model, Tensor, Train, TrainError, Trainer};

model! {
    /// The textbook's Keras CNN (W1), weights from
    /// `tests/fixtures/seed_cnn.safetensors` (which also holds the
    /// reference `input` and `output` that c/main.c checks against).
    #[weights("../../tests/fixtures/seed_cnn.safetensors", ignore = ["input", "output"])]
    pub struct SeedCnn {
        input: [1, 10, 10],
        conv1: Conv2d(32, kernel = 3, activation = relu),
        pool1: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(64, activation = relu),
        out:   Dense(1, activation = sigmoid),
    }
}

model! {
    /// Two stacked LSTMs and a linear head, weights from
    /// `tests/fixtures/forecaster.safetensors`.
    #[weights("../../tests/fixtures/forecaster.safetensors", ignore = ["input", "output"])]
    pub struct Forecaster {
        input: [32, 8],
        lstm1: Lstm(32, return_sequences = true),
        lstm2: Lstm(32),
        head:  Dense(1),
    }
}

/// The CNN with its compiled-in weights: one copy, in read-only data
/// (`model!` reads and checks the file at compile time; a `static`, not the
/// `const` itself, so that every use shares the one copy).
pub static CNN: SeedCnn = SeedCnn::WEIGHTS;

/// The forecaster with its compiled-in weights, in read-only data.
pub static LSTM: Forecaster = Forecaster::WEIGHTS;

/// Success.
pub const SN_OK: i32 = 0;
/// A pointer argument was null; nothing was done.
pub const SN_ERR_NULL: i32 = -1;
/// An input value (image, sequence, step, label or learning rate) was NaN
/// or infinite; nothing was done.
pub const SN_ERR_NONFINITE_INPUT: i32 = -2;
/// An argument is out of range (a label outside `[0, 1]`, a learning rate
/// that is not positive); nothing was done.
pub const SN_ERR_RANGE: i32 = -3;
/// The loss, a gradient or an output came out NaN or infinite; the weights
/// and the optimizer state are unchanged.
pub const SN_ERR_NONFINITE: i32 = -4;
/// Another call is using the same state (re-entered from an interrupt or a
/// second thread); nothing was done. Retry later.
pub const SN_ERR_BUSY: i32 = -5;

/// A `static` that hands out `&mut T` to one caller at a time.
pub struct Exclusive<T> {
    busy: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is reached only through `with`, which first swaps `busy`
// from false to true (Acquire; on targets without compare-and-swap, a load
// and a store with interrupts masked, which no other code on the single
// core can interleave) and clears it (Release) when done, so at most
// one `&mut T` exists at any time and every access happens-after the
// previous one's end. Sending that access to another thread is what `Sync`
// permits here, hence `T: Send`.
unsafe impl<T: Send> Sync for Exclusive<T> {}

impl<T> Exclusive<T> {
    /// A free cell holding `value`.
    pub const fn new(value: T) -> Self {
        Exclusive {
            busy: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with exclusive access, or returns `None` at once if another
    /// caller holds the cell.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if !self.try_take() {
            return None;
        }
        // SAFETY: we set `busy` above and clear it only after `f` returns;
        // no other `&mut` or `&` to `value` exists meanwhile (see the `Sync`
        // impl). With panic = "abort" `f` cannot unwind past the clear.
        let r = f(unsafe { &mut *self.value.get() });
        self.busy.store(false, Ordering::Release);
        Some(r)
    }

    /// Sets `busy` if it was clear (Acquire); `false` if it was set.
    #[cfg(target_has_atomic = "8")]
    fn try_take(&self) -> bool {
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Sets `busy` if it was clear; `false` if it was set. Targets without
    /// compare-and-swap (Cortex-M0/M0+, `thumbv6m`) test and set the flag
    /// with interrupts masked: on a single core nothing else can run
    /// between the load and the store. Only the test-and-set is in the
    /// critical section, not the call, so interrupt latency stays a few
    /// instructions and a re-entering interrupt still gets `SN_ERR_BUSY`.
    #[cfg(not(target_has_atomic = "8"))]
    fn try_take(&self) -> bool {
        cortex_m::interrupt::free(|_| {
            if self.busy.load(Ordering::Relaxed) {
                false
            } else {
                self.busy.store(true, Ordering::Relaxed);
                // Orders the accesses to `value` after the take, as the
                // Acquire of the compare-exchange does.
                core::sync::atomic::fence(Ordering::Acquire);
                true
            }
        })
    }
}

/// Everything on-device training keeps: the trainable copy of the CNN, its
/// gradient, the tape of the training forward and Adam's moments.
pub struct CnnTraining {
    /// `false` until the compiled-in weights have been copied in.
    ready: bool,
    /// The weights being fine-tuned.
    model: SeedCnn,
    /// Gradient, tape and Adam.
    trainer: Trainer<f32, SeedCnn, Adam<SeedCnn>>,
}

impl CnnTraining {
    /// Copies the compiled-in weights in and zeroes the optimizer, in
    /// place (no temporary copy of the model on the stack).
    fn reset(&mut self) {
        for i in 0..<SeedCnn as Model<f32>>::TENSORS {
            self.model.tensor_mut(i).copy_from_slice(CNN.tensor(i));
        }
        SeedCnn::zero_grads(&mut self.trainer.grads);
        self.trainer.optimizer.config = AdamConfig::default();
        self.trainer.optimizer.reset();
        self.ready = true;
    }
}

/// The CNN's training state, in RAM; see [`CnnTraining`].
//
// SAFETY: all-zero bits are a valid `CnnTraining`: every field is an `f32`
// matrix, an `f64` (Adam's hyperparameters), a `u32` (its step count) or a
// `bool`, and zero is a value of each. The compiler checks the bit pattern
// of a static's initial value when it evaluates it, so a field without a
// zero value (a reference, a `NonZero`) would be a build error. The zeros
// are not a usable state (learning rate 0): `ready == false` makes the
// first call run `reset`. Zero-initialised, the 0.5 MB lands in `.bss`,
// not in flash.
pub static CNN_TRAINING: Exclusive<CnnTraining> =
    Exclusive::new(unsafe { MaybeUninit::zeroed().assume_init() });

/// The forecaster's recurrent state for `sn_lstm_step`.
//
// SAFETY: `ForecasterState` holds the two layers' `h` and `c`, `f32`
// vectors, for which all-zero bits are valid (checked by the compiler as
// above); and all zeros is exactly `ForecasterState::zeros()`, the state
// before the first step.
pub static LSTM_STATE: Exclusive<ForecasterState> =
    Exclusive::new(unsafe { MaybeUninit::zeroed().assume_init() });

fn all_finite(values: &[f32]) -> bool {
    values.iter().all(|v| v.is_finite())
}

/// Writes `y` to `out` if it is finite.
fn output(y: f32, out: &mut f32) -> i32 {
    if !y.is_finite() {
        return SN_ERR_NONFINITE;
    }
    *out = y;
    SN_OK
}

/// Runs the CNN on one image `[1, 10, 10]` (100 floats, row-major) and
/// writes the sigmoid output to `out`.
#[no_mangle]
pub extern "C" fn sn_cnn_predict(
    image: Option<&[[[f32; 10]; 10]; 1]>,
    out: Option<&mut f32>,
) -> i32 {
    let (Some(image), Some(out)) = (image, out) else {
        return SN_ERR_NULL;
    };
    if !all_finite(image.as_flat()) {
        return SN_ERR_NONFINITE_INPUT;
    }
    output(CNN.forward(image)[0], out)
}

/// The forecaster's input from 32 rows of 8 features, row `t` = step `t`.
fn sequence(seq: &[[f32; 8]; 32]) -> <Forecaster as Model<f32>>::Input {
    // A `Sequence` is an `SMatrix<f32, 8, 32>` whose column `t` is step `t`:
    // its column-major storage is the C array's row-major order.
    staticnet::SMatrix::from_array_storage(staticnet::nalgebra::ArrayStorage(*seq))
}

/// Runs the forecaster on a whole sequence `[32, 8]` (256 floats,
/// row-major: `seq[t * 8 + f]`) and writes its output to `out`.
#[no_mangle]
pub extern "C" fn sn_lstm_predict(seq: Option<&[[f32; 8]; 32]>, out: Option<&mut f32>) -> i32 {
    let (Some(seq), Some(out)) = (seq, out) else {
        return SN_ERR_NULL;
    };
    if !all_finite(seq.as_flattened()) {
        return SN_ERR_NONFINITE_INPUT;
    }
    output(LSTM.forward(&sequence(seq))[0], out)
}

/// Resets the streaming state to the start of a sequence.
#[no_mangle]
pub extern "C" fn sn_lstm_reset() -> i32 {
    LSTM_STATE
        .with(|s| s.reset())
        .map_or(SN_ERR_BUSY, |()| SN_OK)
}

/// Feeds one time step (8 floats) to the forecaster and writes the output
/// after it; after the 32nd step since a reset it equals `sn_lstm_predict`
/// on the whole sequence. A non-finite step is rejected before it reaches
/// the state.
#[no_mangle]
pub extern "C" fn sn_lstm_step(x: Option<&[f32; 8]>, out: Option<&mut f32>) -> i32 {
    let (Some(x), Some(out)) = (x, out) else {
        return SN_ERR_NULL;
    };
    if !all_finite(x) {
        return SN_ERR_NONFINITE_INPUT;
    }
    let x = staticnet::SVector::from(*x);
    LSTM_STATE
        .with(|s| output(LSTM.step(s, &x)[0], out))
        .unwrap_or(SN_ERR_BUSY)
}

/// Copies the compiled-in CNN weights into the trainable copy and zeroes
/// Adam's state (also done by the first `sn_cnn_train_step`).
#[no_mangle]
pub extern "C" fn sn_cnn_train_reset() -> i32 {
    CNN_TRAINING
        .with(CnnTraining::reset)
        .map_or(SN_ERR_BUSY, |()| SN_OK)
}

/// One Adam step (learning rate `lr`, Keras' other defaults) of binary
/// cross-entropy on one image and its label in `[0, 1]`; writes the loss
/// before the update to `loss_out`. On any error the weights and Adam's
/// state are unchanged.
#[no_mangle]
pub extern "C" fn sn_cnn_train_step(
    image: Option<&[[[f32; 10]; 10]; 1]>,
    label: f32,
    lr: f32,
    loss_out: Option<&mut f32>,
) -> i32 {
    let (Some(image), Some(loss_out)) = (image, loss_out) else {
        return SN_ERR_NULL;
    };
    if !all_finite(image.as_flat()) || !label.is_finite() || !lr.is_finite() {
        return SN_ERR_NONFINITE_INPUT;
    }
    if !(0.0..=1.0).contains(&label) || lr <= 0.0 {
        return SN_ERR_RANGE;
    }
    let y = staticnet::SVector::<f32, 1>::new(label);
    let step = |s: &mut CnnTraining| {
        if !s.ready {
            s.reset();
        }
        s.trainer.optimizer.set_learning_rate(f64::from(lr));
        let xs = core::slice::from_ref(image);
        match s.trainer.step(
            &mut s.model,
            &BinaryCrossEntropy,
            xs,
            core::slice::from_ref(&y),
        ) {
            Ok(loss) => {
                *loss_out = loss;
                SN_OK
            }
            Err(TrainError::NonFinite { .. }) => SN_ERR_NONFINITE,
            // Shapes and the loss's activation are fixed at compile time;
            // no other error can occur.
            Err(_) => SN_ERR_RANGE,
        }
    };
    CNN_TRAINING.with(step).unwrap_or(SN_ERR_BUSY)
}

/// Runs the trainable copy of the CNN (the compiled-in weights until the
/// first training call) on one image and writes its output to `out`.
#[no_mangle]
pub extern "C" fn sn_cnn_tuned_predict(
    image: Option<&[[[f32; 10]; 10]; 1]>,
    out: Option<&mut f32>,
) -> i32 {
    let (Some(image), Some(out)) = (image, out) else {
        return SN_ERR_NULL;
    };
    if !all_finite(image.as_flat()) {
        return SN_ERR_NONFINITE_INPUT;
    }
    CNN_TRAINING
        .with(|s| {
            if !s.ready {
                s.reset();
            }
            output(s.model.forward(image)[0], out)
        })
        .unwrap_or(SN_ERR_BUSY)
}

/// Aborts the program: with panic = "abort" and no `std` this is the whole
/// panic runtime. No code path here panics on any input (every size is
/// static and every error is a status code), so it is reachable only by a
/// bug; it formats nothing, so no formatting code is linked in. C's
/// `abort()` is in every hosted libc and in newlib/picolibc; a board
/// without one can define `abort` to reset the chip.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    extern "C" {
        fn abort() -> !;
    }
    // SAFETY: `abort` takes no arguments, touches no Rust state and does
    // not return.
    unsafe { abort() }
}
