// NeuralAmpModelerCore's WaveNet on the weights of tests/fixtures/wavenet/,
// for the same-run comparison in BENCHMARKS.md ("NAM WaveNet streaming").
//
// Loads a .nam file written by `tools/make_fixtures_wavenet.py --nam DIR`,
// checks NAM's output on the fixture's 8192-sample input against PyTorch's
// (from the receptive field on: NAM prewarms its history with zeros through
// the network, staticnet and the PyTorch reference pad each layer with
// zeros, so the two agree only once no padding is in reach), then times
// `process` in blocks of `buffer` samples and prints the thread CPU time
// per sample (CLOCK_THREAD_CPUTIME_ID, as benches/common measures) and the
// real-time factor at 48 kHz. Built against NeuralAmpModelerCore (commit
// daae2d0) and Debian's libeigen3-dev 3.4:
//
//   g++ -O3 -DNDEBUG -std=c++20 -I<core> -I/usr/include/eigen3 \
//       -I<core>/Dependencies/nlohmann -o bench_nam_core \
//       tools/bench_nam_core.cpp <core>/NAM/*.cpp <core>/NAM/wavenet/*.cpp
//   ./bench_nam_core DIR/standard.nam DIR/standard_input.f64 \
//       DIR/standard_output.f64 1 [--no-fast-tanh]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <vector>

#include "NAM/activations.h"
#include "NAM/dsp.h"
#include "NAM/get_dsp.h"

static std::vector<double> read_f64(const char* path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  std::vector<double> v(f.tellg() / sizeof(double));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(v.data()), v.size() * sizeof(double));
  return v;
}

static double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s model.nam input.f64 output.f64 buffer [--no-fast-tanh]\n", argv[0]);
    return 2;
  }
  const bool fast_tanh = !(argc > 5 && std::strcmp(argv[5], "--no-fast-tanh") == 0);
  if (fast_tanh)
    nam::activations::Activation::enable_fast_tanh();
  else
    nam::activations::Activation::disable_fast_tanh();
  const int buffer = std::atoi(argv[4]);
  auto model = nam::get_dsp(std::filesystem::path(argv[1]));
  const auto x = read_f64(argv[2]);
  const auto want = read_f64(argv[3]);
  const int rf = 4093;
  model->Reset(48000.0, buffer);
  std::vector<NAM_SAMPLE> in(buffer), out(buffer);
  NAM_SAMPLE* ip = in.data();
  NAM_SAMPLE* op = out.data();
  double worst = 0.0;
  const size_t n = x.size() / buffer * buffer;
  for (size_t t0 = 0; t0 < n; t0 += buffer) {
    for (int k = 0; k < buffer; k++) in[k] = x[t0 + k];
    model->process(&ip, &op, buffer);
    for (int k = 0; k < buffer; k++)
      if (t0 + k >= static_cast<size_t>(rf - 1))
        worst = std::fmax(worst, std::fabs(out[k] - want[t0 + k]));
  }
  // Timed: passes over the input until 2 s of thread CPU time.
  size_t samples = 0;
  const double start = thread_seconds();
  double now = start;
  while (now - start < 2.0) {
    for (size_t t0 = 0; t0 < n; t0 += buffer) {
      for (int k = 0; k < buffer; k++) in[k] = x[t0 + k];
      model->process(&ip, &op, buffer);
    }
    samples += n;
    now = thread_seconds();
  }
  const double per_sample = (now - start) / samples;
  std::printf("%s buffer %d fast_tanh %d: %.1f ns/sample, RTF at 48 kHz %.4f; max |NAM - PyTorch| from sample %d: %.2e\n",
              argv[1], buffer, fast_tanh ? 1 : 0, per_sample * 1e9, per_sample * 48000.0, rf - 1, worst);
  return worst < 1e-4 ? 0 : 1;
}
