#!/usr/bin/env python3
# Writes src/shaders/conv2d.wgsl and src/shaders/conv2d_subgroups.wgsl from conv2d.wgsl.in (beside this file).
# Edit the template, then run:
#   python3 scripts/conv2d-wgsl/gen.py            (or give an output folder as the first argument)
# The kernels keep TN (up to 8) per-pixel accumulators in registers, which WGSL can only do with literal indices,
# so the per-pixel lines are written out 8 times. Template lines starting with a marker expand for j (or i, t) = 0..7:
#   @@J body   - one block per pixel j, pixels after the first guarded by `if (TN > j)`, {j} and {j1} = j + 1
#   @@S body   - one line per j ({j}, {j1}), unguarded
#   @@W body   - one line per j ({j}, {j1}, {j2} = j + 2), for the sliding input window
#   @@I body   - one line per i ({i})
#   @@T body   - one line per t ({t})
#   @@V body   - one line per window slot v = 0..23 ({v})
#   @@K body   - the body repeated for each tap k = 0..6 ({k}); other markers inside it expand after
#   @@SG line  - only in conv2d_subgroups.wgsl (the variant that shares loads through subgroupBroadcast)
#   @@NOSG line - only in conv2d.wgsl
# test/conv2d-wgsl.test.ts checks that the committed WGSL is this script's output.
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', '..', 'src', 'shaders')


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


def slots(match):
    indent, body = match.group(1), match.group(2)
    return '\n'.join(indent + body.replace('{v}', str(v)) for v in range(24))


def expand_tap_blocks(text):
    # Consecutive @@K lines form one block, written out once per tap k = 0..6.
    out, block = [], []
    for line in text.split('\n'):
        m = re.match(r'^( *)@@K (.*)$', line)
        if m:
            block.append((m.group(1), m.group(2)))
            continue
        if block:
            for k in range(7):
                out.extend(indent + body.replace('{k}', str(k)) for indent, body in block)
            block = []
        out.append(line)
    return '\n'.join(out)


template = open(os.path.join(HERE, 'conv2d.wgsl.in')).read()
for name, keep, drop in (('conv2d.wgsl', 'NOSG', 'SG'), ('conv2d_subgroups.wgsl', 'SG', 'NOSG')):
    text = expand_tap_blocks(template)
    text = re.sub(r'(?m)^ *@@' + drop + r' .*\n', '', text)
    text = re.sub(r'(?m)^( *)@@' + keep + r' ', r'\1', text)
    text = re.sub(r'(?m)^( *)@@V (.*)$', slots, text)
    text = re.sub(r'(?m)^( *)@@J (.*)$', guarded, text)
    text = re.sub(r'(?m)^( *)@@S (.*)$', repeated([('j1', 1), ('j', 0)]), text)
    text = re.sub(r'(?m)^( *)@@W (.*)$', repeated([('j2', 2), ('j1', 1), ('j', 0)]), text)
    text = re.sub(r'(?m)^( *)@@I (.*)$', repeated([('i', 0)]), text)
    text = re.sub(r'(?m)^( *)@@T (.*)$', repeated([('t', 0)]), text)
    with open(os.path.join(OUT_DIR, name), 'w') as f:
        f.write(text)
