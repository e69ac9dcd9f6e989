// The `chh` command line: synth, train, calibrate, test, predict, bench, tune (commands/), each with --help. It runs the
// engine in Node through Dawn (WebGPU on SwiftShader when there is no GPU driver). Exit codes: 0 done, 1 failed,
// 2 bad usage (with the command's help).
import { commandHelp, type Command } from './command.ts';
import { parseOptions, UsageError } from './options.ts';
import { synth } from './commands/synth.ts';
import { trainCommand } from './commands/train.ts';
import { calibrateCommand } from './commands/calibrate.ts';
import { testCommand } from './commands/test.ts';
import { predictCommand } from './commands/predict.ts';
import { benchCommand } from './commands/bench.ts';
import { tuneCommand } from './commands/tune.ts';

export const COMMANDS: Record<string, Command> = {
  synth,
  train: trainCommand,
  calibrate: calibrateCommand,
  test: testCommand,
  predict: predictCommand,
  bench: benchCommand,
  tune: tuneCommand,
};

export function mainHelp(): string {
  return [
    'chh: Contour-Hugging Heatmaps on WebGPU',
    '',
    ...Object.entries(COMMANDS).map(([n, c]) => `  chh ${n.padEnd(10)} ${c.summary}`),
    '',
    'chh COMMAND --help shows the options of a command.',
  ].join('\n');
}

async function runCommand(name: string, command: Command, argv: string[]): Promise<number> {
  if (command.passThrough) {
    await command.run({}, argv);
    return 0;
  }
  const parsed = parseOptions(command.options, argv);
  if (parsed.help) {
    console.log(commandHelp(name, command));
    return 0;
  }
  await command.run(parsed.values, parsed.positionals);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`chh: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  try {
    return await runCommand(name, command, rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`chh ${name}: ${e.message}\n\n${commandHelp(name, command)}`);
      return 2;
    }
    console.error(`chh ${name}: ${(e as Error).message}`);
    return 1;
  }
}
