#!/usr/bin/env python3
# Writes src/shaders/conv2d.wgsl from conv2d.wgsl.in (beside this file). Edit the template, then run:
#   python3 scripts/conv2d-wgsl/gen.py            (or give an output path as the first argument)
# The kernels keep TN (up to 8) per-pixel accumulators in registers, which WGSL can only do with literal indices,
# so the per-pixel lines are written out 8 times. Template lines starting with a marker expand for j (or i, t) = 0..7:
#   @@J body   - one block per pixel j, pixels after the first guarded by `if (TN > j)`, {j} and {j1} = j + 1
#   @@S body   - one line per j ({j}, {j1}), unguarded
#   @@W body   - one line per j ({j}, {j1}, {j2} = j + 2), for the sliding input window
#   @@I body   - one line per i ({i})
#   @@T body   - one line per t ({t})
# test/conv2d-wgsl.test.ts checks that the committed WGSL is this script's output.
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', '..', 'src', 'shaders', 'conv2d.wgsl')


def guarded(match):
    indent, body = match.group(1), match.group(2)
    lines = []
    for j in range(8):
        s = body.replace('{j1}', str(j + 1)).replace('{j}', str(j))
        lines.append(indent + ('{ ' if j == 0 else f'if (TN > {j}u) {{ ') + s + ' }')
    return '\n'.join(lines)


def repeated(var_names):
    def expand(match):
        indent, body = match.group(1), match.group(2)
        out = []
        for k in range(8):
            s = body
            for name, delta in var_names:
                s = s.replace('{' + name + '}', str(k + delta))
            out.append(indent + s)
        return '\n'.join(out)
    return expand


text = open(os.path.join(HERE, 'conv2d.wgsl.in')).read()
text = re.sub(r'(?m)^( *)@@J (.*)$', guarded, text)
text = re.sub(r'(?m)^( *)@@S (.*)$', repeated([('j1', 1), ('j', 0)]), text)
text = re.sub(r'(?m)^( *)@@W (.*)$', repeated([('j2', 2), ('j1', 1), ('j', 0)]), text)
text = re.sub(r'(?m)^( *)@@I (.*)$', repeated([('i', 0)]), text)
text = re.sub(r'(?m)^( *)@@T (.*)$', repeated([('t', 0)]), text)
with open(OUT, 'w') as f:
    f.write(text)
