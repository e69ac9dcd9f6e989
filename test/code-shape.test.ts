// The code's shape rules (scripts/code-shape.ts, docs/architecture.md): layers import only downward, no import
// cycle, no function over 80 lines, no file over 450 lines. Checked on the real tree, and the checker itself on
// small made-up inputs so that a rule that silently stopped working would fail here.
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { codeShape, findCycles, importsOf, layerOf, longFunctions, MAX_FUNCTION_LINES } from '../scripts/code-shape.ts';

const source = (text: string) => ts.createSourceFile('/x/src/ops/a.ts', text, ts.ScriptTarget.ES2022, true);

describe('the checker', () => {
  it('finds a function longer than the limit, and not one at the limit', () => {
    const body = (n: number) => Array.from({ length: n - 2 }, (_, i) => `  const v${i} = ${i};`).join('\n');
    const text = `export function long() {\n${body(MAX_FUNCTION_LINES + 1)}\n}\nconst fine = () => {\n${body(MAX_FUNCTION_LINES)}\n};\n`;
    const found = longFunctions('/x/src/ops/a.ts', source(text));
    expect(found.map((f) => [f.name, f.lines])).toEqual([['long', MAX_FUNCTION_LINES + 1]]);
  });

  it('sees static, type-only, dynamic and re-export imports', () => {
    const text = "import { a } from './b.ts';\nimport type { C } from '../engine/c.ts';\nexport { d } from './d.ts';\nconst e = await import('./e.ts');\nimport 'node:fs';";
    expect(importsOf('/x/src/ops/a.ts', source(text))).toEqual(['/x/src/ops/b.ts', '/x/src/engine/c.ts', '/x/src/ops/d.ts', '/x/src/ops/e.ts']);
  });

  it('finds a cycle, and none in a tree without one', () => {
    const cyclic = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    expect(findCycles(cyclic).length).toBe(1);
    expect(findCycles(new Map([['a', ['b']], ['b', ['c']], ['d', ['a', 'c']]]))).toEqual([]);
  });

  it('orders the layers engine below ops below nn ... below cli', () => {
    const at = (p: string) => layerOf(join(process.cwd(), 'src', p));
    expect(at('engine/engine.ts')).toBeLessThan(at('ops/add.ts'));
    expect(at('ops/add.ts')).toBeLessThan(at('nn/unet.ts'));
    expect(at('chh/train.ts')).toBeLessThan(at('pipeline/steps.ts'));
    expect(at('pipeline/steps.ts')).toBeLessThan(at('cli/chh.ts'));
  });
});

describe('the tree', () => {
  const r = codeShape();
  it('imports only downward, with no cycle', () => {
    expect(r.layerViolations).toEqual([]);
    expect(r.cycles).toEqual([]);
  });
  it(`has no function over ${MAX_FUNCTION_LINES} lines and no file over the limit`, () => {
    expect(r.longFunctions.map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`)).toEqual([]);
    expect(r.longFiles).toEqual([]);
  });
});
