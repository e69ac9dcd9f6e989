// Command-line options as data: each option's kind, default and help, most of them taken from the one config table
// (src/chh/config.ts). From these the commands get parseArgs' options, their typed and validated values (a bad
// value is a UsageError naming the option and the value), and their --help text with the defaults filled in.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Setting } from '../chh/config.ts';
import { inputSizeProblem } from '../nn/unet.ts';

export class UsageError extends Error {}

export interface Size {
  width: number;
  height: number;
}

interface Base {
  help: string;
}
/** Integers: `min` 1 for counts (the default), 0 for seeds and other non-negative values. */
export type IntOption = Base & { kind: 'int'; default?: number; min?: 0 | 1 };
export type NumberOption = Base & { kind: 'number'; default?: number };
export type StringOption = Base & { kind: 'string'; default?: string };
export type FlagOption = Base & { kind: 'flag' };
/** WxH, both multiples of 32. */
export type SizeOption = Base & { kind: 'size'; default?: Size };
/** Comma-separated positive integers. */
export type IntListOption = Base & { kind: 'ints'; default?: readonly number[] };
export type ChoiceOption<C extends string = string> = Base & { kind: 'choice'; choices: readonly C[]; default?: C };
export type OptionSpec = IntOption | NumberOption | StringOption | FlagOption | SizeOption | IntListOption | ChoiceOption;
export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

/** T, or T | undefined where the option has no default. */
type Maybe<S extends OptionSpec, T> = undefined extends (S extends { default?: infer D } ? D : undefined) ? T | undefined : T;

type ValueOf<S extends OptionSpec> = S extends FlagOption
  ? boolean
  : S extends ChoiceOption<infer C>
    ? Maybe<S, C>
    : S extends IntOption | NumberOption
      ? Maybe<S, number>
      : S extends SizeOption
        ? Maybe<S, Size>
        : S extends IntListOption
          ? Maybe<S, number[]>
          : Maybe<S, string>;

/** The parsed values of a command's options, keyed by option name. */
export type OptionValues<O extends OptionSpecs> = { [K in keyof O]: ValueOf<O[K]> };

/** Option builders (an option given a default always has a value); `...From` take a config setting's default and help. */
export const opt = {
  int: <D extends number | undefined = undefined>(help: string, def?: D, min: 0 | 1 = 1) => ({ kind: 'int', help, default: def, min }) as IntOption & { default: D },
  number: <D extends number | undefined = undefined>(help: string, def?: D) => ({ kind: 'number', help, default: def }) as NumberOption & { default: D },
  string: <D extends string | undefined = undefined>(help: string, def?: D) => ({ kind: 'string', help, default: def }) as StringOption & { default: D },
  flag: (help: string): FlagOption => ({ kind: 'flag', help }),
  size: <D extends Size | undefined = undefined>(help: string, def?: D) => ({ kind: 'size', help, default: def }) as SizeOption & { default: D },
  choice: <C extends string, D extends C | undefined = undefined>(choices: readonly C[], help: string, def?: D) => ({ kind: 'choice', choices, help, default: def }) as ChoiceOption<C> & { default: D },
  intFrom: (s: Setting<number>, min: 0 | 1 = 1): IntOption & { default: number } => ({ kind: 'int', help: s.help, default: s.default, min }),
  numberFrom: (s: Setting<number>): NumberOption & { default: number } => ({ kind: 'number', help: s.help, default: s.default }),
  intsFrom: (s: Setting<readonly number[]>): IntListOption & { default: readonly number[] } => ({ kind: 'ints', help: s.help, default: s.default }),
  choiceFrom: <C extends string>(choices: readonly C[], s: Setting<C>): ChoiceOption<C> & { default: C } => ({ kind: 'choice', choices, help: s.help, default: s.default }),
};

function list(choices: readonly string[]): string {
  return choices.length < 3 ? choices.join(' or ') : `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}`;
}

/** --size WxH (width x height, as the ISBI convention gives it), both multiples of 32. */
export function parseSize(v: string, name = 'size'): Size {
  const m = /^(\d+)x(\d+)$/.exec(v);
  const width = m ? Number(m[1]) : NaN;
  const height = m ? Number(m[2]) : NaN;
  if (!m || width % 32 || height % 32 || width <= 0 || height <= 0) {
    throw new UsageError(`--${name} must be WxH with both multiples of 32 (the UNet halves the image five times), got ${v}`);
  }
  const problem = inputSizeProblem(width, height);
  if (problem) throw new UsageError(`--${name} ${v}: ${problem}`);
  return { width, height };
}

function parseInt(name: string, v: string, min: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} must be ${min === 1 ? 'a positive integer' : 'an integer >= 0'}, got ${v}`);
  }
  return n;
}

function parseValue(name: string, spec: OptionSpec, v: string | boolean | undefined): unknown {
  if (spec.kind === 'flag') return Boolean(v);
  if (v === undefined || typeof v === 'boolean') return spec.default;
  switch (spec.kind) {
    case 'int':
      return parseInt(name, v, spec.min ?? 1);
    case 'number': {
      const n = Number(v);
      if (v.trim() === '' || !(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name} must be a positive number, got ${v}`);
      return n;
    }
    case 'size':
      return parseSize(v, name);
    case 'ints':
      return v.split(',').filter((s) => s !== '').map((s) => parseInt(name, s, 1));
    case 'choice':
      if (!spec.choices.includes(v)) throw new UsageError(`--${name} must be ${list(spec.choices)}, got ${v}`);
      return v;
    default:
      return v;
  }
}

/** parseArgs' options for the specs (every value is read as a string and converted by parseOptions). */
function argsConfig(specs: OptionSpecs): NonNullable<ParseArgsConfig['options']> {
  const out: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', default: false } };
  for (const [name, spec] of Object.entries(specs)) out[name] = { type: spec.kind === 'flag' ? 'boolean' : 'string' };
  return out;
}

export interface Parsed<O extends OptionSpecs> {
  help: boolean;
  values: OptionValues<O>;
  positionals: string[];
}

/** Parses and validates argv against the specs. Unknown options are parseArgs' own errors (a UsageError here). */
export function parseOptions<O extends OptionSpecs>(specs: O, argv: readonly string[]): Parsed<O> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: argsConfig(specs), allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const values: Record<string, unknown> = {};
  if (!parsed.values.help) for (const [name, spec] of Object.entries(specs)) values[name] = parseValue(name, spec, parsed.values[name] as string | boolean | undefined);
  return { help: Boolean(parsed.values.help), values: values as OptionValues<O>, positionals: parsed.positionals };
}

function formatDefault(spec: OptionSpec): string {
  if (spec.kind === 'flag' || spec.default === undefined) return '';
  const d = spec.default;
  const text = typeof d === 'object' && 'width' in d ? `${d.width}x${d.height}` : Array.isArray(d) ? d.join(',') : String(d);
  return ` (default ${text})`;
}

/** One line per option: `--name  help (default X)`, choices listed where the help does not name them. */
export function optionsHelp(specs: OptionSpecs, width = 14): string[] {
  return Object.entries(specs).map(([name, spec]) => {
    const choices = spec.kind === 'choice' && !spec.choices.every((c) => spec.help.includes(c)) ? ` (${spec.choices.join(', ')})` : '';
    return `  --${name.padEnd(width)} ${spec.help}${choices}${formatDefault(spec)}`;
  });
}
