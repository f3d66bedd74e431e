#!/usr/bin/env python3
"""Fails if code reachable from the given functions of a Thumb ELF uses
floating point (issue 13: the int8 forward executes no floating-point
instruction).

    python3 tools/thumb_float_check.py ELF ROOT [ROOT ...]

Disassembles ELF with arm-none-eabi-objdump, follows every direct branch
and call (`bl`, `b`, `b.w`, `blx <label>`, conditional branches) from each
ROOT symbol to the functions they reach, and reports, per function:
- a VFP/NEON instruction (a mnemonic beginning with `v`, or `fmrx`/`fmxr`/
  `fmstat`), which only a hard-float target (thumbv7em-none-eabihf) emits;
- a call to a soft-float routine (`__aeabi_f*`, `__aeabi_d*`, `__aeabi_[iul]*2[fd]`,
  libgcc's `__addsf3` ... `__fix*`/`__float*`, compiler-builtins' names),
  which is how thumbv6m does floating point;
- an indirect call (`blx rN`, `bx rN` other than `bx lr`), which the walk
  cannot follow: reported so that nothing is missed silently.
Exit status 0 if none is found, 1 otherwise (2 for a missing root).
"""

import re
import subprocess
import sys

SOFT_FLOAT = re.compile(
    r"^(__aeabi_[fd]\w*|__aeabi_[iul]\w*2[fd]|__aeabi_[fd]2\w*|__(add|sub|mul|div|neg)[sdt]f3|"
    r"__(fix|fixuns)[sdt]f\w*|__float\w*|__(extend|trunc)\w*[sdt]f\w*|__(eq|ne|lt|le|gt|ge|un|cmp)[sdt]f2|"
    r"(sqrt|exp|log|pow|sin|cos|tan|tanh|erf|floor|ceil|round|fabs|fma)f?)$"
)
FUNC = re.compile(r"^([0-9a-f]+) <(.+)>:$")
INSN = re.compile(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$")
# A branch's operand: `ADDR <symbol>` or `ADDR <symbol+0xOFF>`. The symbol
# is demangled and may hold `<`, `>` and `+` itself (`<<T>::forward>`,
# `<f::<16, 32>+0x1c>`): the name is everything between the first `<` and
# the last `>`, less a trailing `+0x..`.
TARGET = re.compile(r"^\s*[0-9a-f]+\s+<(.*?)(\+0x[0-9a-f]+)?>\s*$")
BRANCH = re.compile(r"^(bl|blx|b|b\.w|b\.n|cb\w*|b(eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)(\.[wn])?)$")


def disassemble(elf):
    out = subprocess.run(
        ["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", "-C", elf],
        check=True, capture_output=True, text=True,
    ).stdout
    funcs, cur = {}, None
    for line in out.splitlines():
        m = FUNC.match(line)
        if m:
            cur = m.group(2)
            funcs[cur] = []
            continue
        m = INSN.match(line)
        if m and cur is not None:
            funcs[cur].append((m.group(2), m.group(3)))
    return funcs


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    elf, roots = sys.argv[1], sys.argv[2:]
    funcs = disassemble(elf)
    missing = [r for r in roots if r not in funcs]
    if missing:
        print(f"{elf}: no function {', '.join(missing)}")
        return 2
    seen, todo, problems = set(), list(roots), []
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        if SOFT_FLOAT.match(f):
            problems.append(f"soft-float routine {f}")
            continue
        for mnem, ops in funcs.get(f, []):
            base = mnem.split(".")[0]
            if base.startswith("v") or base in ("fmrx", "fmxr", "fmstat"):
                problems.append(f"{f}: {mnem} {ops}")
            if BRANCH.match(mnem):
                t = TARGET.search(ops)
                if t:
                    if t.group(1) not in funcs and not SOFT_FLOAT.match(t.group(1)):
                        # A target the walk cannot open would be missed.
                        problems.append(f"{f}: {mnem} to unknown code {t.group(1)}")
                    elif t.group(1) != f:
                        todo.append(t.group(1))
                elif mnem in ("blx",) or (mnem == "bx" and ops.strip() != "lr"):
                    problems.append(f"{f}: indirect {mnem} {ops}")
            elif mnem == "bx" and ops.strip() != "lr":
                problems.append(f"{f}: indirect {mnem} {ops}")
    print(f"{elf}: {len(seen)} functions reachable from {', '.join(roots)}")
    for p in problems[:40]:
        print("  float:", p)
    if problems:
        print(f"  {len(problems)} floating-point uses")
        return 1
    print("  no floating-point instruction, no soft-float call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
