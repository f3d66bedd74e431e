/*
 * staticnet_firmware.h — C API of the staticnet firmware example
 * (examples/firmware, a Rust #![no_std] static library: link
 * libstaticnet_firmware.a; it needs only memcpy and memset from the C
 * library, and no heap).
 *
 * Two networks with weights compiled in (read-only data / flash), from
 * PyTorch state_dicts (tests/fixtures/seed_cnn.safetensors, forecaster.safetensors):
 *
 *   CNN   [1,10,10] -> Conv2d(32, 3x3, relu) -> MaxPool2d(2) -> Flatten
 *         -> Dense(64, relu) -> Dense(1, sigmoid)          33,217 parameters
 *   LSTM  [32,8] -> Lstm(32, return_sequences) -> Lstm(32) -> Dense(1)
 *                                                          13,857 parameters
 *
 * All tensors are float (IEEE-754 binary32), row-major (PyTorch order).
 *
 * Pointers: every pointer must be non-null (else SN_ERR_NULL), point to the
 * number of floats stated, and an output must not overlap an input. The
 * library keeps no pointer after a call returns.
 *
 * State: the streaming LSTM state and the CNN's training state are statics
 * inside the library (RAM; no heap). Each is guarded by an "in use" flag:
 * a call that finds it taken (an interrupt handler calling in while the
 * main loop is inside the library, or a second thread) returns SN_ERR_BUSY
 * at once and changes nothing. Inference on the compiled-in weights
 * (sn_cnn_predict, sn_lstm_predict) touches no state and is re-entrant.
 *
 * Every function returns SN_OK (0) or a negative status; on error no
 * output is written and no state (weights, optimizer, LSTM state) changes.
 */
#ifndef STATICNET_FIRMWARE_H
#define STATICNET_FIRMWARE_H

#ifdef __cplusplus
extern "C" {
#endif

#define SN_OK 0
/* A pointer argument was NULL. */
#define SN_ERR_NULL (-1)
/* An input value (image, sequence, step, label or lr) is NaN or infinite. */
#define SN_ERR_NONFINITE_INPUT (-2)
/* A label outside [0, 1] or a learning rate <= 0. */
#define SN_ERR_RANGE (-3)
/* The loss, a gradient or an output came out NaN/inf; nothing changed. */
#define SN_ERR_NONFINITE (-4)
/* The state is in use by another call (re-entry); nothing changed. */
#define SN_ERR_BUSY (-5)

#define SN_CNN_INPUT_LEN 100  /* [1, 10, 10]: image[row * 10 + col] */
#define SN_LSTM_STEPS 32
#define SN_LSTM_FEATURES 8
#define SN_LSTM_INPUT_LEN 256 /* [32, 8]: seq[t * 8 + f] */

/* CNN on one 10x10 image (100 floats). *out = the sigmoid output, in (0, 1).
 * Uses the compiled-in weights. */
int sn_cnn_predict(const float *image, float *out);

/* LSTM forecaster on a whole sequence of 32 steps of 8 features
 * (256 floats, seq[t * 8 + f]). *out = the head's output. */
int sn_lstm_predict(const float *seq, float *out);

/* Streaming: sn_lstm_reset() starts a sequence (all-zero state; also the
 * state at load time). Each sn_lstm_step() feeds one step x (8 floats) and
 * writes the output after it; after 32 steps it equals (bit for bit)
 * sn_lstm_predict on those 32 steps. A non-finite x is rejected and does
 * not reach the state. */
int sn_lstm_reset(void);
int sn_lstm_step(const float *x, float *out);

/* On-device training of a RAM copy of the CNN.
 *
 * sn_cnn_train_step: one Adam step (learning rate lr > 0; beta1 0.9,
 * beta2 0.999, eps 1e-7) on binary cross-entropy, computed from the logit,
 * of one image (100 floats) with label in [0, 1]. *loss_out = the loss
 * before the update. The first call copies the compiled-in weights into
 * the trainable copy. On error (any status but SN_OK) the trainable
 * weights and Adam's state are unchanged.
 *
 * sn_cnn_train_reset: copy the compiled-in weights into the trainable copy
 * again and zero Adam's state.
 *
 * sn_cnn_tuned_predict: like sn_cnn_predict, on the trainable copy. */
int sn_cnn_train_step(const float *image, float label, float lr, float *loss_out);
int sn_cnn_train_reset(void);
int sn_cnn_tuned_predict(const float *image, float *out);

#ifdef __cplusplus
}
#endif

#endif /* STATICNET_FIRMWARE_H */
