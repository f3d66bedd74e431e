// RTNeural's compile-time models timed on the benches' workloads (issue 15:
// same-machine anchors): an LSTM 8→32 and a GRU 8→32, each with a Dense(1)
// head, one time step per `forward()`, and the LSTM over a 32-step
// sequence (32 `forward()` calls after a `reset()`). Weights are seeded
// uniform values in ±0.3 (the speed does not depend on them beyond the
// activations' inputs staying in their ordinary range).
//
// Time: the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), as staticnet's
// criterion benches measure it; each figure is the median over 31 batches
// of calls, in ns per call. Built by tools/bench_peers.sh.
#include <RTNeural/RTNeural.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <random>
#include <vector>

namespace {

double thread_ns() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

std::mt19937 rng(7);
float uniform() { return std::uniform_real_distribution<float>(-0.3f, 0.3f)(rng); }

std::vector<std::vector<float>> matrix(int rows, int cols) {
    std::vector<std::vector<float>> m(rows, std::vector<float>(cols));
    for (auto& r : m)
        for (auto& v : r) v = uniform();
    return m;
}

std::vector<float> vec(int n) {
    std::vector<float> v(n);
    for (auto& x : v) x = uniform();
    return v;
}

template <typename F>
double median_ns(F&& f, long calls) {
    std::vector<double> per;
    for (int b = 0; b < 31; ++b) {
        double t0 = thread_ns();
        f(calls);
        per.push_back((thread_ns() - t0) / calls);
    }
    std::sort(per.begin(), per.end());
    return per[per.size() / 2];
}

volatile float sink;

}  // namespace

int main() {
    constexpr int F = 8, H = 32, S = 32;
    // RTNeural maps each step's input with its alignment (aligned loads):
    // step t starts at 32·t bytes, so the buffer itself is 64-byte aligned.
    alignas(64) static float xs[F * S];
    for (auto& v : xs) v = uniform() * 3.0f;

    RTNeural::ModelT<float, F, 1, RTNeural::LSTMLayerT<float, F, H>, RTNeural::DenseT<float, H, 1>> lstm;
    {
        auto& l = lstm.get<0>();
        l.setWVals(matrix(F, 4 * H));
        l.setUVals(matrix(H, 4 * H));
        l.setBVals(vec(4 * H));
        auto& d = lstm.get<1>();
        d.setWeights(matrix(1, H));
        auto b = vec(1);
        d.setBias(b.data());
    }
    RTNeural::ModelT<float, F, 1, RTNeural::GRULayerT<float, F, H>, RTNeural::DenseT<float, H, 1>> gru;
    {
        auto& g = gru.get<0>();
        g.setWVals(matrix(F, 3 * H));
        g.setUVals(matrix(H, 3 * H));
        g.setBVals(matrix(2, 3 * H));
        auto& d = gru.get<1>();
        d.setWeights(matrix(1, H));
        auto b = vec(1);
        d.setBias(b.data());
    }
    lstm.reset();
    gru.reset();

    // One step: cycle through the sequence's 32 inputs, resetting the state
    // at its end (as benches/step.rs does).
    auto lstm_step = [&](long n) {
        for (long i = 0; i < n; ++i) {
            long t = i % S;
            sink = lstm.forward(&xs[t * F]);
            if (t == S - 1) lstm.reset();
        }
    };
    auto gru_step = [&](long n) {
        for (long i = 0; i < n; ++i) {
            long t = i % S;
            sink = gru.forward(&xs[t * F]);
            if (t == S - 1) gru.reset();
        }
    };
    auto lstm_seq = [&](long n) {
        for (long i = 0; i < n; ++i) {
            lstm.reset();
            float y = 0;
            for (int t = 0; t < S; ++t) y = lstm.forward(&xs[t * F]);
            sink = y;
        }
    };
    lstm_step(100000);  // warm-up
    std::printf("lstm_step_ns %.1f\n", median_ns(lstm_step, 20000));
    std::printf("lstm_sequence_ns %.1f\n", median_ns(lstm_seq, 1000));
    std::printf("gru_step_ns %.1f\n", median_ns(gru_step, 20000));
    return 0;
}
