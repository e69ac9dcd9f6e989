// WGSL templates (`NAME.wgsl.in` beside an op): a few line directives, expanded at embed time into plain WGSL.
// They exist for what WGSL cannot say itself: private arrays indexed by a loop counter leave registers (and
// SwiftShader unrolls no loops), so per-pixel code is written out with literal indices; and one file can yield
// variants that differ in a few lines (e.g. with and without subgroup operations).
//
// A directive is a line whose first non-blank character is `#`:
//   #variant NAME [FLAG ...]    the template yields shader NAME, expanded with these flags set (one line per
//                               shader, before any code)
//   #for V < N                  repeats the lines up to the matching `#end` for V = 0 .. N-1
//   #for V < N: LINE            one copy of LINE per V, at the directive's indentation
//   #for V < C <= N: LINE       the same for the first C copies, C an override constant of at most N: copy 0 is
//                               `{ LINE }`, copy V > 0 is `if (C > Vu) { LINE }`, a condition that is a constant
//                               once the pipeline is built, so unused copies (and what only they use) vanish
//   #if FLAG / #if !FLAG        the lines up to `#else` or `#end` where the flag is set (or not); `#else` the rest
//   #if FLAG: LINE, #if !FLAG: LINE
//                               LINE alone, at the directive's indentation
//   #end
// Inside a repeated line or block, {V}, {V+K} and {V-K} become numbers. One-line directives nest
// (`#if !subgroups: #for i < 8: w[{i}] = ...`). Anything else starting with `#` is an error naming the line.

export interface TemplateVariant {
  name: string;
  flags: ReadonlySet<string>;
}

interface Line {
  text: string;
  /** 1-based line number in the template. */
  at: number;
}

const DIRECTIVE = /^(\s*)#(\w+)(.*)$/;
const FOR = /^\s+(\w+)\s*<\s*(?:(\w+)\s*<=\s*)?(\d+)\s*(?::\s?(.*))?$/;
const IF = /^\s+(!?)(\w+)\s*(?::\s?(.*))?$/;

function fail(file: string, at: number, message: string): never {
  throw new Error(`${file}:${at}: ${message}`);
}

/** Replaces {name}, {name+K} and {name-K} by numbers. */
function substitute(text: string, name: string, value: number): string {
  return text.replace(new RegExp(`\\{${name}(?:([+-])(\\d+))?\\}`, 'g'), (_, sign: string | undefined, k: string | undefined) =>
    String(sign === '-' ? value - Number(k) : value + (k ? Number(k) : 0)),
  );
}

/** The variants a template declares with `#variant` (a template without any yields one shader, named `fallback`). */
export function templateVariants(source: string, file: string, fallback: string): TemplateVariant[] {
  const variants: TemplateVariant[] = [];
  source.split('\n').forEach((text, i) => {
    const m = DIRECTIVE.exec(text);
    if (m?.[2] !== 'variant') return;
    const [name, ...flags] = m[3].trim().split(/\s+/);
    if (!name || !/^\w+$/.test(name)) fail(file, i + 1, `#variant needs a shader name, got "${m[3].trim()}"`);
    variants.push({ name, flags: new Set(flags) });
  });
  return variants.length > 0 ? variants : [{ name: fallback, flags: new Set() }];
}

/** Index of the `#end` (or, with `elseToo`, the `#else`) closing the block that opens before `start`. */
function blockEnd(lines: readonly Line[], start: number, file: string, opener: Line, elseToo: boolean): number {
  let depth = 0;
  for (let i = start; i < lines.length; i++) {
    const m = DIRECTIVE.exec(lines[i].text);
    if (!m) continue;
    const [, , word, rest] = m;
    const opens = (word === 'for' || word === 'if') && !rest.includes(':');
    if (opens) depth++;
    else if (word === 'end' && depth-- === 0) return i;
    else if (word === 'else' && depth === 0 && elseToo) return i;
  }
  fail(file, opener.at, `"${opener.text.trim()}" has no matching #end`);
}

function expandLine(indent: string, body: string, line: Line, flags: ReadonlySet<string>, file: string): string[] {
  return expand([{ text: indent + body, at: line.at }], flags, file);
}

function expandFor(m: RegExpExecArray, indent: string, lines: readonly Line[], i: number, flags: ReadonlySet<string>, file: string): { out: string[]; next: number } {
  const [, name, guard, count, body] = m;
  const n = Number(count);
  const line = lines[i];
  if (body !== undefined) {
    const out: string[] = [];
    for (let v = 0; v < n; v++) {
      const text = substitute(body, name, v);
      out.push(...expandLine(indent, guard ? (v === 0 ? `{ ${text} }` : `if (${guard} > ${v}u) { ${text} }`) : text, line, flags, file));
    }
    return { out, next: i + 1 };
  }
  if (guard) fail(file, line.at, `#for ${name} < ${guard} <= ${n} repeats one line: write "#for ${name} < ${guard} <= ${n}: LINE"`);
  const end = blockEnd(lines, i + 1, file, line, false);
  const block = lines.slice(i + 1, end);
  const out: string[] = [];
  for (let v = 0; v < n; v++) out.push(...expand(block.map((l) => ({ text: substitute(l.text, name, v), at: l.at })), flags, file));
  return { out, next: end + 1 };
}

function expandIf(m: RegExpExecArray, indent: string, lines: readonly Line[], i: number, flags: ReadonlySet<string>, file: string): { out: string[]; next: number } {
  const [, negate, flag, body] = m;
  const on = flags.has(flag) !== (negate === '!');
  if (body !== undefined) return { out: on ? expandLine(indent, body, lines[i], flags, file) : [], next: i + 1 };
  const split = blockEnd(lines, i + 1, file, lines[i], true);
  const hasElse = DIRECTIVE.exec(lines[split].text)?.[2] === 'else';
  const end = hasElse ? blockEnd(lines, split + 1, file, lines[i], false) : split;
  const chosen = on ? lines.slice(i + 1, split) : hasElse ? lines.slice(split + 1, end) : [];
  return { out: expand(chosen, flags, file), next: end + 1 };
}

function expand(lines: readonly Line[], flags: ReadonlySet<string>, file: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const d = DIRECTIVE.exec(line.text);
    if (!d) {
      out.push(line.text);
      i++;
      continue;
    }
    const [, indent, word, rest] = d;
    let step: { out: string[]; next: number };
    if (word === 'variant') step = { out: [], next: i + 1 };
    else if (word === 'for') {
      const m = FOR.exec(rest);
      if (!m) fail(file, line.at, `bad #for: "${line.text.trim()}" (write "#for V < N", "#for V < N: LINE" or "#for V < CONST <= N: LINE")`);
      step = expandFor(m, indent, lines, i, flags, file);
    } else if (word === 'if') {
      const m = IF.exec(rest);
      if (!m) fail(file, line.at, `bad #if: "${line.text.trim()}" (write "#if FLAG", "#if !FLAG" or "#if FLAG: LINE")`);
      step = expandIf(m, indent, lines, i, flags, file);
    } else if (word === 'end' || word === 'else') fail(file, line.at, `#${word} without an open #for or #if`);
    else fail(file, line.at, `unknown directive #${word} (directives: #variant, #for, #if, #else, #end)`);
    out.push(...step.out);
    i = step.next;
  }
  return out;
}

/** The WGSL of one variant of a template. `file` names the template in errors. */
export function expandTemplate(source: string, flags: ReadonlySet<string>, file: string): string {
  const lines = source.split('\n').map((text, i) => ({ text, at: i + 1 }));
  return expand(lines, flags, file).join('\n');
}
