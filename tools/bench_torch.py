#!/usr/bin/env python3
"""PyTorch reference timings for benches/train.rs (not run in CI).

Measures, single-threaded and seeded, on the same two networks staticnet's
benches use:

  W1  the textbook CNN: [1,10,10] -> Conv2d(32, 3x3, relu) -> MaxPool2d(2)
      -> Flatten -> Linear(64, relu) -> Linear(1), BCEWithLogits
  W2  [32, 8] -> LSTM(32) -> Linear(1) on the last hidden state, MSE

* training throughput, batch 32, one step = forward + backward + Adam step
  (Keras defaults: lr 1e-3, betas 0.9/0.999, eps 1e-7), in samples/s, for
  eager mode with each Adam implementation (for-loop, foreach, fused) and
  torch.compile (model + loss with fused Adam, and forward/backward plus
  the Adam step compiled apart), if it compiles on this machine;
* inference latency, batch 1, in µs: eager (inference_mode), TorchScript
  trace, torch.compile.

Each figure is the median over `--repeats` timed runs after a warm-up, of
the calling thread's CPU time (wall time is shown beside it: on a shared
machine it also counts other processes' turns on the core); the table
also gives the fraction of one core's peak the step reaches (a training sample ~ 3x the forward FLOPs), with the peak given
by `--peak-gflops` (default 95, ANCHORS.md's AVX2+FMA core) and a measured
single-thread sgemm figure for comparison.

    /tmp/venv/bin/python tools/bench_torch.py            # full run (~2-4 min)
    /tmp/venv/bin/python tools/bench_torch.py --quick    # smoke run
    /tmp/venv/bin/python tools/bench_torch.py --no-compile
"""

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

# One thread everywhere, set before torch starts its pools.
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

BATCH = 32
W1_FWD_FLOP = 102_528
W2_FWD_FLOP = 327_744


class Cnn(nn.Module):
    """The textbook CNN; the sigmoid lives in the loss (BCEWithLogits)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.pool1 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 4 * 4, 64)
        self.out = nn.Linear(64, 1)

    def forward(self, x):
        x = self.pool1(torch.relu(self.conv1(x)))
        x = torch.relu(self.fc1(torch.flatten(x, 1)))
        return self.out(x)


class LstmNet(nn.Module):
    """[32, 8] -> LSTM(32) -> Linear(1) on the last hidden state."""

    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTM(8, 32, batch_first=True)
        self.head = nn.Linear(32, 1)

    def forward(self, x):
        _, (h, _) = self.lstm1(x)
        return self.head(h[-1])


def workloads():
    g = torch.Generator().manual_seed(0)
    x1 = torch.rand(BATCH, 1, 10, 10, generator=g)
    y1 = torch.randint(0, 2, (BATCH, 1), generator=g).float()
    x2 = torch.randn(BATCH, 32, 8, generator=g)
    y2 = torch.randn(BATCH, 1, generator=g)
    return [
        ("W1 CNN", Cnn, nn.BCEWithLogitsLoss(), x1, y1, W1_FWD_FLOP),
        ("W2 LSTM", LstmNet, nn.MSELoss(), x2, y2, W2_FWD_FLOP),
    ]


def adam(params, impl):
    kw = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    if impl == "fused":
        kw["fused"] = True
    elif impl == "foreach":
        kw["foreach"] = True
    else:
        kw["foreach"] = False
    return torch.optim.Adam(params, **kw)


def timed(fn, iters, repeats, warmup):
    """Seconds per call of `fn`: (median, best) of `repeats` runs, by this
    thread's CPU time, and the median by wall time.

    CPU time is the figure the tables use: on a machine shared with other
    jobs, wall time also counts the other processes' turns on the core.
    torch runs with one intra-op thread, and autograd's CPU backward runs
    on the calling thread, so the calling thread's CPU time is the work.
    """
    for _ in range(warmup):
        fn()
    cpu, wall = [], []
    for _ in range(repeats):
        c0, t0 = time.thread_time(), time.perf_counter()
        for _ in range(iters):
            fn()
        cpu.append((time.thread_time() - c0) / iters)
        wall.append((time.perf_counter() - t0) / iters)
    return statistics.median(cpu), min(cpu), statistics.median(wall)


RESET_EVERY = 32


def train_modes(make, loss_fn, x, y, compile_ok):
    """(name, step, reset) for every training variant to time.

    `reset` puts the weights and the optimizer back to their initial state:
    thousands of steps on one batch would memorise it, the gradients would
    go to zero and Adam's moments would decay into subnormal floats, which
    are slow on x86. benches/train.rs resets the same way, untimed, every
    RESET_EVERY steps.
    """
    modes = []

    def fresh(impl):
        torch.manual_seed(0)
        model = make()
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        opt = adam(model.parameters(), impl)

        def reset():
            # In place, so that compiled code keeps its guards: new tensors
            # would make torch.compile recompile the optimizer step.
            with torch.no_grad():
                for k, v in model.state_dict().items():
                    v.copy_(initial[k])
                for state in opt.state.values():
                    for v in state.values():
                        if torch.is_tensor(v):
                            v.zero_()

        return model, opt, reset

    for impl in ("forloop", "foreach", "fused"):
        model, opt, reset = fresh(impl)

        def step(model=model, opt=opt):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            return loss

        modes.append((f"eager, Adam {impl}", step, reset))
    if compile_ok:
        # (a) the model and loss compiled (AOTAutograd compiles backward
        # too), the fused Adam kernel for the update.
        model, opt, reset = fresh("fused")
        fwd_loss = torch.compile(lambda model=model: loss_fn(model(x), y))

        def step_a(opt=opt):
            opt.zero_grad(set_to_none=True)
            loss = fwd_loss()
            loss.backward()
            opt.step()
            return loss

        modes.append(("compile + fused Adam", step_a, reset))
        # (b) forward/backward and the foreach Adam step compiled apart.
        model, opt, reset = fresh("foreach")

        def fwd_bwd(model=model):
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss

        fwd_bwd_c = torch.compile(fwd_bwd)
        opt_step_c = torch.compile(opt.step)

        def step_b(opt=opt):
            opt.zero_grad(set_to_none=True)
            loss = fwd_bwd_c()
            opt_step_c()
            return loss

        modes.append(("compile fwd/bwd + step", step_b, reset))
    return modes


def timed_train(step, reset, iters, repeats, warmup):
    """Like `timed`, for training steps: the state is reset (untimed)
    every RESET_EVERY steps."""
    reset()
    for _ in range(warmup):
        step()
    cpu, wall = [], []
    for _ in range(repeats):
        c_sum = w_sum = 0.0
        for _ in range(iters // RESET_EVERY):
            reset()
            c0, t0 = time.thread_time(), time.perf_counter()
            for _ in range(RESET_EVERY):
                step()
            c_sum += time.thread_time() - c0
            w_sum += time.perf_counter() - t0
        n = iters // RESET_EVERY * RESET_EVERY
        cpu.append(c_sum / n)
        wall.append(w_sum / n)
    return statistics.median(cpu), min(cpu), statistics.median(wall)


def infer_modes(make, x1, compile_ok):
    torch.manual_seed(0)
    model = make().eval()
    modes = [("eager", lambda: model(x1))]
    with torch.inference_mode():
        traced = torch.jit.trace(model, x1)
        traced = torch.jit.freeze(traced)
    modes.append(("jit.trace+freeze", lambda: traced(x1)))
    if compile_ok:
        compiled = torch.compile(model)
        modes.append(("torch.compile", lambda: compiled(x1)))
    return modes


def sgemm_gflops():
    """One-thread sgemm rate: what this core sustains on a large matmul."""
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    _, best, _ = timed(lambda: a @ b, 5, 5, 2)
    return 2 * 1024**3 / best / 1e9


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    ap.add_argument("--peak-gflops", type=float, default=95.0)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")
    repeats = 3 if args.quick else args.repeats
    train_iters = 32 if args.quick else 320
    infer_iters = 200 if args.quick else 5000

    compile_ok = False
    if not args.no_compile:
        try:
            f = torch.compile(lambda t: torch.relu(t) * 2)
            f(torch.ones(4))
            compile_ok = True
        except Exception as e:  # no compiler, no triton, ...
            print(f"torch.compile unavailable: {type(e).__name__}: {e}", file=sys.stderr)

    print(f"torch {torch.__version__}, python {platform.python_version()}, "
          f"threads {torch.get_num_threads()}, {cpu_name()}")
    print(f"CPU capability: {torch.backends.cpu.get_cpu_capability()}")
    print(f"sgemm 1024^3, 1 thread: {sgemm_gflops():.1f} GFLOP/s "
          f"(peak assumed for the % column: {args.peak_gflops:.0f})")
    print()

    rows = []
    for name, make, loss_fn, x, y, fwd_flop in workloads():
        for mode, step, reset in train_modes(make, loss_fn, x, y, compile_ok):
            try:
                med, best, wall = timed_train(step, reset, train_iters, repeats, warmup=30)
            except Exception as e:
                print(f"{name} / {mode}: failed: {type(e).__name__}: {e}", file=sys.stderr)
                continue
            rows.append((name, mode, BATCH / med, BATCH / best, BATCH / wall, fwd_flop))

    print(f"Training, batch {BATCH}, forward + backward + Adam "
          f"(samples/s of thread CPU time, median and best of {repeats}; wall-time median)")
    print(f"{'network':<10}{'mode':<26}{'median':>10}{'best':>10}{'% peak':>9}{'wall':>10}")
    best_of = {}
    for name, mode, med, best, wall, fwd_flop in rows:
        pct = 100 * med * 3 * fwd_flop / (args.peak_gflops * 1e9)
        print(f"{name:<10}{mode:<26}{med:>10,.0f}{best:>10,.0f}{pct:>8.1f}%{wall:>10,.0f}")
        if med > best_of.get(name, (0, ""))[0]:
            best_of[name] = (med, mode)
    for name, (med, mode) in best_of.items():
        print(f"best {name}: {med:,.0f} samples/s ({mode})")
    print()

    print("Inference, batch 1 (µs per call of thread CPU time, median and best; wall-time median)")
    print(f"{'network':<10}{'mode':<26}{'median':>10}{'best':>10}{'wall':>10}")
    for name, make, _, x, _, _ in workloads():
        x1 = x[:1].clone()
        with torch.inference_mode():
            for mode, f in infer_modes(make, x1, compile_ok):
                try:
                    med, best, wall = timed(f, infer_iters, repeats, warmup=200)
                except Exception as e:
                    print(f"{name} / {mode}: failed: {type(e).__name__}: {e}", file=sys.stderr)
                    continue
                print(f"{name:<10}{mode:<26}{med * 1e6:>10.1f}{best * 1e6:>10.1f}{wall * 1e6:>10.1f}")


if __name__ == "__main__":
    main()
