// The WGSL template syntax (scripts/wgsl-template.ts) and the embed step (scripts/embed-shaders.ts): every
// directive, the errors that name the line, and that the shaders embedded are the templates' expansions.
import { describe, expect, it } from 'vitest';
import { expandTemplate, templateVariants } from '../../scripts/wgsl-template.ts';
import { collectShaders } from '../../scripts/embed-shaders.ts';
import { SHADERS } from '../../src/generated/shaders.ts';

const expand = (text: string, flags: string[] = []) => expandTemplate(text, new Set(flags), 't.wgsl.in');

describe('WGSL templates', () => {
  it('repeats a line with {V}, {V+K} and {V-K} substituted, at the directive indentation', () => {
    expect(expand('  #for i < 3: a[{i}] = b[{i+1}] + c[{i-1}];')).toBe('  a[0] = b[1] + c[-1];\n  a[1] = b[2] + c[0];\n  a[2] = b[3] + c[1];');
  });

  it('guards every copy after the first by an override constant', () => {
    expect(expand('#for j < TN <= 3: x[{j}] = 1;')).toBe('{ x[0] = 1; }\nif (TN > 1u) { x[1] = 1; }\nif (TN > 2u) { x[2] = 1; }');
  });

  it('repeats blocks, with one-line directives nested inside', () => {
    const text = ['#for k < 2', 'k{k}:', '  #for j < 2: v{j}{k}', '#end', 'done'].join('\n');
    expect(expand(text)).toBe(['k0:', '  v00', '  v10', 'k1:', '  v01', '  v11', 'done'].join('\n'));
  });

  it('keeps the lines of a flag that is set (or not), in blocks with #else and in one line', () => {
    const text = ['#if sg', 'A', '#else', 'B', '#end', '  #if !sg: C', '#if sg: #for i < 2: D{i}'].join('\n');
    expect(expand(text, ['sg'])).toBe(['A', 'D0', 'D1'].join('\n'));
    expect(expand(text)).toBe(['B', '  C'].join('\n'));
  });

  it('declares its variants; a template without #variant yields one shader of its name', () => {
    expect(templateVariants('#variant a\n#variant b sg fast\ncode', 't', 'x')).toEqual([
      { name: 'a', flags: new Set() },
      { name: 'b', flags: new Set(['sg', 'fast']) },
    ]);
    expect(templateVariants('code', 't', 'x')).toEqual([{ name: 'x', flags: new Set() }]);
  });

  it('names the template and line of a mistake', () => {
    expect(() => expand('ok\n#for i < 3\nno end')).toThrow(/t\.wgsl\.in:2: "#for i < 3" has no matching #end/);
    expect(() => expand('#end')).toThrow(/t\.wgsl\.in:1: #end without an open #for or #if/);
    expect(() => expand('x\n#unroll 4')).toThrow(/t\.wgsl\.in:2: unknown directive #unroll/);
    expect(() => expand('#for i in 0..3: x')).toThrow(/t\.wgsl\.in:1: bad #for/);
    expect(() => expand('#for j < TN <= 8\nx\n#end')).toThrow(/repeats one line/);
  });
});

describe('the embedded shaders', () => {
  it('are every .wgsl under src/ and both variants of the conv2d template, expanded, with no directive left', () => {
    const shaders = collectShaders();
    expect(Object.keys(SHADERS).sort()).toEqual(shaders.map((s) => s.name).sort());
    for (const s of shaders) {
      expect(SHADERS[s.name as keyof typeof SHADERS].code, s.name).toBe(s.code);
      expect(s.code, s.name).not.toMatch(/^\s*#/m);
    }
    expect(SHADERS.conv2d_subgroups.code).toMatch(/^enable subgroups;/m);
    expect(SHADERS.conv2d.code).not.toMatch(/enable subgroups|subgroup_invocation_id/);
    expect(SHADERS.conv2d.code).toMatch(/if \(TN > 7u\)/);
  });
});
