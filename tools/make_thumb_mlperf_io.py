"""The golden inputs and Keras' outputs the Cortex-M7 test (tests/thumb,
`staticnet-thumb-mlperf`) checks, cut from the committed MLPerf Tiny
fixtures (tests/fixtures/mlperf/<model>.io.safetensors, made from Keras by
tools/make_mlperf_fixtures.py): the first sample(s) of each, so that the
five models' weights and their expected values fit the board's 4 MiB of
flash together (AD's full set of 40 frames alone is 616 kB).

Nothing is computed here: the values are copied. Run from the repository
root with any Python that has numpy and safetensors:

    python tools/make_thumb_mlperf_io.py
"""

from pathlib import Path

from safetensors.numpy import load_file, save_file

SRC = Path("tests/fixtures/mlperf")
DST = SRC / "thumb"
# Samples kept per model. AD's frames 3, 17 and 30 are the ill-conditioned
# ones (tests/mlperf.rs): frames 0 and 1 are held to 1e-5.
KEEP = {"ad": 2, "ic": 1, "vww": 1, "sww": 2, "kws": 2}


def main() -> None:
    DST.mkdir(exist_ok=True)
    for model, n in KEEP.items():
        io = load_file(SRC / f"{model}.io.safetensors")
        cut = {k: io[k][:n].copy() for k in ("input", "output64")}
        save_file(cut, DST / f"{model}.io.safetensors", metadata={"from": f"{model}.io.safetensors"})
        print(model, {k: v.shape for k, v in cut.items()})


if __name__ == "__main__":
    main()
