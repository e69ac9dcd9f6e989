// The shape rules of the code (docs/architecture.md): in src/, layers import only downward and no module imports
// itself back through others; in src/, bench/ and demo/, no function is longer than MAX_FUNCTION_LINES and no file
// longer than MAX_FILE_LINES (WGSL templates aside: they are not TypeScript). test/code-shape.test.ts enforces them;
// `npx tsx scripts/code-shape.ts` lists every violation.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const MAX_FUNCTION_LINES = 80;
export const MAX_FILE_LINES = 450;

/** The layers of src/, lowest first: a module may import its own layer and the ones before it. */
export const LAYERS: readonly (readonly string[])[] = [
  ['engine', 'types'],
  ['generated'],
  ['ops'],
  ['nn'],
  ['io'],
  ['data'],
  ['chh'],
  ['report'],
  ['pipeline'],
  ['worker'],
  ['node', 'index-node.ts'],
  ['cli'],
  ['index.ts'],
];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(path));
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out.sort();
}

/** The layer index of a file under src/ (by its first path segment). */
export function layerOf(file: string): number {
  const top = relative(join(root, 'src'), file).split('/')[0];
  const i = LAYERS.findIndex((names) => names.includes(top));
  if (i < 0) throw new Error(`${relative(root, file)}: src/${top} is in no layer of scripts/code-shape.ts`);
  return i;
}

/** Every relative import of a module (static, dynamic, and `export ... from`), type-only ones included. */
export function importsOf(file: string, source: ts.SourceFile): string[] {
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    let spec: ts.Expression | undefined;
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) spec = node.moduleSpecifier;
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) spec = node.arguments[0];
    if (spec && ts.isStringLiteral(spec) && spec.text.startsWith('.')) out.push(resolve(dirname(file), spec.text));
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

export interface LongFunction {
  file: string;
  name: string;
  line: number;
  lines: number;
}

function functionName(node: ts.Node, source: ts.SourceFile): string {
  const named = node as ts.Node & { name?: ts.Node };
  if (named.name) return named.name.getText(source);
  const parent = node.parent;
  if (parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))) return parent.name.getText(source);
  return '(anonymous)';
}

/** Functions, methods and arrow functions of a module longer than `max` lines (nested ones count on their own too). */
export function longFunctions(file: string, source: ts.SourceFile, max = MAX_FUNCTION_LINES): LongFunction[] {
  const out: LongFunction[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      if (end - start + 1 > max) out.push({ file: relative(root, file), name: functionName(node, source), line: start + 1, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

export interface ShapeReport {
  layerViolations: string[];
  cycles: string[][];
  longFunctions: LongFunction[];
  longFiles: { file: string; lines: number }[];
}

/** Cycles of the import graph (each as the list of files around it, once). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const walk = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === 'open') cycles.push(stack.slice(stack.indexOf(g)).map((x) => relative(root, x)));
      else if (!state.has(g)) walk(g);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) walk(f);
  return cycles;
}

/** Folders held to the length rules; the layer rules apply to src/ alone. */
const LENGTH_RULED = ['src', 'bench', 'demo'];

export function codeShape(): ShapeReport {
  const files = LENGTH_RULED.flatMap((d) => tsFiles(join(root, d)));
  const graph = new Map<string, string[]>();
  const report: ShapeReport = { layerViolations: [], cycles: [], longFunctions: [], longFiles: [] };
  const src = join(root, 'src') + '/';
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
    if (file.startsWith(src)) {
      const imports = importsOf(file, source).filter((f) => f.startsWith(src));
      graph.set(file, imports);
      for (const target of imports) {
        if (layerOf(target) > layerOf(file)) report.layerViolations.push(`${relative(root, file)} imports ${relative(root, target)}, a layer above it`);
      }
    }
    report.longFunctions.push(...longFunctions(file, source));
    const lines = text.split('\n').length;
    if (lines > MAX_FILE_LINES && !file.includes('/generated/')) report.longFiles.push({ file: relative(root, file), lines });
  }
  report.cycles = findCycles(graph);
  return report;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const r = codeShape();
  for (const v of r.layerViolations) console.log(`layer: ${v}`);
  for (const c of r.cycles) console.log(`cycle: ${c.join(' -> ')}`);
  for (const f of r.longFiles) console.log(`file: ${f.file} has ${f.lines} lines (max ${MAX_FILE_LINES})`);
  for (const f of r.longFunctions) console.log(`function: ${f.file}:${f.line} ${f.name} has ${f.lines} lines (max ${MAX_FUNCTION_LINES})`);
  const n = r.layerViolations.length + r.cycles.length + r.longFiles.length + r.longFunctions.length;
  console.log(n === 0 ? 'code shape: all rules hold' : `code shape: ${n} violations`);
}
