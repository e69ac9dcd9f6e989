// src/shaders/conv2d.wgsl is generated from a template (its per-pixel lines are unrolled 8 times); the committed
// file must be exactly what the generator writes, so nobody edits one copy of eight.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('conv2d.wgsl is the output of scripts/conv2d-wgsl/gen.py', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'conv2d-wgsl-')), 'conv2d.wgsl');
  execFileSync('python3', ['scripts/conv2d-wgsl/gen.py', out]);
  expect(readFileSync(out, 'utf8')).toBe(readFileSync('src/shaders/conv2d.wgsl', 'utf8'));
});
