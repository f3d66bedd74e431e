#!/usr/bin/env python3
"""Marks every runtime kernel function with a body (outside test modules)
`#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]`,
so the generated AVX2 copy of a model inlines them (runtime dispatch)."""
import re, glob, sys
ATTR = '#[cfg_attr(all(feature = "std", target_arch = "x86_64"), inline(always))]'
NOT = '#[cfg_attr(not(all(feature = "std", target_arch = "x86_64")), inline)]'
# Usage: tools/mark_inline.py <repo root>; idempotent (run it again after
# adding kernels).
root = sys.argv[1]
files = sorted(glob.glob(root + '/runtime/src/kernels/**/*.rs', recursive=True)) + [root + '/runtime/src/activation.rs', root + '/runtime/src/float.rs']
# The dispatch plumbing itself is marked by hand.
files = [f for f in files if not f.endswith('kernels/dispatch.rs')]
total = 0
for p in files:
    lines = open(p).read().split('\n')
    out = []
    in_test = False
    for i, l in enumerate(lines):
        if re.match(r'\s*#\[cfg\(test\)\]', l) and i + 1 < len(lines) and re.match(r'\s*(pub )?mod ', lines[i + 1]):
            in_test = True
        m = re.match(r'^(\s*)(pub(\([a-z]+\))? )?(const )?(unsafe )?fn \w+', l)
        if m and not in_test:
            j = i
            body = None
            while j < len(lines):
                t = lines[j].split('//')[0]
                if '{' in t:
                    body = True
                    break
                if t.rstrip().endswith(';'):
                    body = False
                    break
                j += 1
            if body:
                k = len(out)
                while k > 0 and (out[k - 1].strip().startswith('#[') or out[k - 1].strip().startswith('#![')):
                    k -= 1
                attrs = [a.strip() for a in out[k:]]
                # Already forced, deliberately kept out of line
                # (`inline(never)`), or a `target_feature` clone (which
                # cannot be `inline(always)`): left as they are.
                if any('inline(always)' in a or 'inline(never)' in a or 'target_feature' in a for a in attrs) or any(a.startswith('#[cfg_attr(all(feature = "std", target_arch') for a in attrs):
                    pass
                else:
                    ind = m.group(1)
                    has_inline = [n for n in range(k, len(out)) if out[n].strip() == '#[inline]']
                    if has_inline:
                        out[has_inline[0]] = ind + ATTR + '\n' + ind + NOT
                    else:
                        out.insert(k, ind + ATTR)
                    total += 1
        out.append(l)
    open(p, 'w').write('\n'.join(out))
print(total, 'functions marked')
