// src/shaders/conv2d.wgsl and conv2d_subgroups.wgsl are generated from one template (its per-pixel lines are
// unrolled 8 times, and the subgroup variant differs in a few lines); the committed files must be exactly what the
// generator writes, so nobody edits one copy of eight, or one variant and not the other.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('conv2d.wgsl and conv2d_subgroups.wgsl are the output of scripts/conv2d-wgsl/gen.py', () => {
  const dir = mkdtempSync(join(tmpdir(), 'conv2d-wgsl-'));
  execFileSync('python3', ['scripts/conv2d-wgsl/gen.py', dir]);
  for (const name of ['conv2d.wgsl', 'conv2d_subgroups.wgsl']) {
    expect(readFileSync(join(dir, name), 'utf8'), name).toBe(readFileSync(join('src/shaders', name), 'utf8'));
  }
});
