/*
 * Size probe (ci.sh): one program per part of the API, linked with
 * -Wl,--gc-sections so that only what it calls is kept. Its section sizes
 * minus those of the same program with no call (-DPROBE_NONE) are that
 * part's cost in code, read-only data and RAM.
 */
#include "staticnet_firmware.h"

/* Kept (and counted) in every probe, the empty one included. */
float buf[SN_LSTM_INPUT_LEN];

int main(int argc, char **argv) {
    float y = buf[argc & 255];
    int rc = 0;
    (void)argv;
#if defined(PROBE_CNN)
    rc |= sn_cnn_predict(buf, &y);
#elif defined(PROBE_CNN_TRAIN)
    rc |= sn_cnn_train_reset();
    rc |= sn_cnn_train_step(buf, 1.0f, 1e-3f, &y);
    rc |= sn_cnn_tuned_predict(buf, &y);
#elif defined(PROBE_LSTM)
    rc |= sn_lstm_predict(buf, &y);
#elif defined(PROBE_LSTM_STREAM)
    rc |= sn_lstm_reset();
    rc |= sn_lstm_step(buf, &y);
#elif defined(PROBE_ALL)
    rc |= sn_cnn_predict(buf, &y);
    rc |= sn_cnn_train_reset();
    rc |= sn_cnn_train_step(buf, 1.0f, 1e-3f, &y);
    rc |= sn_cnn_tuned_predict(buf, &y);
    rc |= sn_lstm_predict(buf, &y);
    rc |= sn_lstm_reset();
    rc |= sn_lstm_step(buf, &y);
#endif
    return rc + (y > 0.5f);
}
