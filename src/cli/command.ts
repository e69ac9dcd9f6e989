// A subcommand of `chh`: its one-line summary, usage, options (options.ts) and what it does with their values.
import { optionsHelp, type OptionSpecs, type OptionValues } from './options.ts';

export interface Command<O extends OptionSpecs = OptionSpecs> {
  summary: string;
  usage: string;
  options: O;
  run(values: OptionValues<O>, positionals: string[]): Promise<void>;
  /** Hand the raw arguments to run() as positionals (a wrapper around another program with its own options). */
  passThrough?: boolean;
}

/**
 * A command, its run() typed by its own option specs. Erased to Command for the table of commands: chh.ts hands
 * run() the values parsed from the same specs, so they always have the types run() was written for.
 */
export function command<O extends OptionSpecs>(c: Command<O>): Command {
  return c as unknown as Command;
}

export function commandHelp(name: string, c: Command): string {
  return [`chh ${name}: ${c.summary}`, '', `usage: ${c.usage}`, '', ...optionsHelp(c.options)].join('\n');
}
