#!/usr/bin/env python3
"""Converts sktime's copy of the UEA BasicMotions data set to the plain CSV
files in data/basic_motions/ (see data/basic_motions/README.md).

Standard library only; sktime itself is not installed, its wheel is read as
a zip file:

    pip download sktime==1.2.0 --no-deps -d /tmp/sk
    python3 tools/convert_basic_motions.py /tmp/sk/sktime-1.2.0-py3-none-any.whl

Each `.ts` data line is six `:`-separated dimensions of 100 comma-separated
values, then the class name. Each CSV row is those 600 values, unchanged as
text (dimension 0's 100 steps, then dimension 1's, ...), then the class
index in the order of the file's `@classLabel` line (Standing 0, Running 1,
Walking 2, Badminton 3). Rows keep the file's order. The script checks the
header says what it relies on and that every row has 6 × 100 values.
"""

import hashlib
import pathlib
import sys
import zipfile

MEMBER = "sktime/datasets/data/BasicMotions/BasicMotions_{}.ts"
OUT = pathlib.Path(__file__).resolve().parent.parent / "data" / "basic_motions"
DIMS, STEPS = 6, 100


def convert(text):
    classes = None
    rows = []
    in_data = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@classlabel"):
                parts = line.split()
                assert parts[1] == "true", line
                classes = parts[2:]
            elif low.startswith("@dimensions"):
                assert int(line.split()[1]) == DIMS, line
            elif low.startswith("@serieslength"):
                assert int(line.split()[1]) == STEPS, line
            elif low.startswith("@equallength") or low.startswith("@missing"):
                assert line.split()[1] == ("true" if "equal" in low else "false"), line
            elif low == "@data":
                in_data = True
            continue
        fields = line.split(":")
        assert len(fields) == DIMS + 1, f"{len(fields)} fields"
        values = []
        for dim in fields[:DIMS]:
            v = dim.split(",")
            assert len(v) == STEPS, f"{len(v)} steps"
            for s in v:
                float(s)  # every value parses
            values.extend(v)
        rows.append(",".join(values + [str(classes.index(fields[DIMS]))]))
    assert classes == ["Standing", "Running", "Walking", "Badminton"], classes
    return rows


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    OUT.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(sys.argv[1]) as whl:
        for split in ["TRAIN", "TEST"]:
            raw = whl.read(MEMBER.format(split))
            rows = convert(raw.decode("utf-8"))
            out = OUT / f"{split.lower()}.csv"
            data = ("\n".join(rows) + "\n").encode()
            out.write_bytes(data)
            print(
                f"{MEMBER.format(split)}: {len(raw)} bytes, sha256 {hashlib.sha256(raw).hexdigest()}"
                f"\n  -> {out.relative_to(OUT.parent.parent)}: {len(rows)} rows, {len(data)} bytes,"
                f" sha256 {hashlib.sha256(data).hexdigest()}"
            )


if __name__ == "__main__":
    main()
