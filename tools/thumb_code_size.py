#!/usr/bin/env python3
"""Code bytes of everything a function can execute on a Thumb ELF.

    tools/thumb_code_size.py ELF FUNCTION...

For each FUNCTION, follows every direct branch and call from it (as
tools/thumb_float_check.py does: `arm-none-eabi-objdump -d`) and prints
`code FUNCTION BYTES FUNCTIONS`: the sum of the symbol sizes (`readelf -s`)
of the functions reached, FUNCTION included: its flash for code, what a
firmware linking only that entry point carries (.ci/thumb.sh; the int8
models' rows of BENCHMARKS.md).
"""
import re
import subprocess
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from thumb_float_check import BRANCH, TARGET, disassemble  # noqa: E402


def sizes(elf):
    """Function address (Thumb bit cleared) -> size, from the symbol table."""
    out = subprocess.run(["readelf", "-sW", elf], check=True, capture_output=True, text=True).stdout
    by_addr = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 8 and f[3] == "FUNC":
            by_addr[int(f[1], 16) & ~1] = int(f[2])
    return by_addr


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    elf, roots = sys.argv[1], sys.argv[2:]
    funcs = disassemble(elf)
    addr = {}
    out = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", "-C", elf],
                         check=True, capture_output=True, text=True).stdout
    for m in re.finditer(r"^([0-9a-f]+) <(.+)>:$", out, re.M):
        addr[m.group(2)] = int(m.group(1), 16)
    size = sizes(elf)
    status = 0
    for root in roots:
        if root not in funcs:
            print(f"{elf}: no function {root}")
            status = 2
            continue
        seen, todo = set(), [root]
        while todo:
            f = todo.pop()
            if f in seen:
                continue
            seen.add(f)
            for mnem, ops in funcs.get(f, []):
                if BRANCH.match(mnem):
                    t = TARGET.search(ops)
                    if t and t.group(1) != f:
                        todo.append(t.group(1))
        total = sum(size.get(addr.get(f, -1), 0) for f in seen)
        print(f"code {root} {total} {len(seen)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
