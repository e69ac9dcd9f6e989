// Command-line options built from specs (src/cli/options.ts): typed values, every bad value refused by name, the
// help with the defaults of the one config table (src/chh/config.ts).
import { describe, expect, it } from 'vitest';
import { opt, optionsHelp, parseOptions, parseSize, UsageError } from '../../src/cli/options.ts';
import { CALIBRATION, TRAINING } from '../../src/chh/config.ts';
import { COMMANDS } from '../../src/cli/chh.ts';
import { commandHelp } from '../../src/cli/command.ts';

const specs = {
  epochs: opt.intFrom(TRAINING.epochs),
  seed: opt.intFrom(TRAINING.seed, 0),
  lr: opt.numberFrom(TRAINING.lr),
  milestones: opt.intsFrom(TRAINING.milestones),
  objective: opt.choice(['ece', 'nll'] as const, 'what to fit', 'ece'),
  size: opt.size('image size'),
  out: opt.string('folder', 'runs/x'),
  resume: opt.flag('continue'),
};

describe('parseOptions', () => {
  it('gives the defaults, and typed values for what is given', () => {
    expect(parseOptions(specs, []).values).toEqual({ epochs: 15, seed: 0, lr: 1e-3, milestones: [4, 6, 8], objective: 'ece', size: undefined, out: 'runs/x', resume: false });
    const v = parseOptions(specs, ['--epochs', '3', '--seed', '0', '--lr', '0.5', '--milestones', '2,5', '--objective', 'nll', '--size', '64x96', '--resume', 'a.bmp']);
    expect(v.values).toMatchObject({ epochs: 3, seed: 0, lr: 0.5, milestones: [2, 5], objective: 'nll', size: { width: 64, height: 96 }, resume: true });
    expect(v.positionals).toEqual(['a.bmp']);
    expect(parseOptions(specs, ['--help']).help).toBe(true);
  });

  it('refuses every bad value, naming the option and the value', () => {
    const bad = (args: string[], message: RegExp) => expect(() => parseOptions(specs, args)).toThrow(message);
    bad(['--epochs', 'abc'], /--epochs must be a positive integer, got abc/);
    bad(['--epochs', '0'], /--epochs must be a positive integer, got 0/);
    bad(['--epochs', '2.5'], /--epochs must be a positive integer, got 2.5/);
    bad(['--seed', 'abc'], /--seed must be an integer >= 0, got abc/);
    bad(['--seed=-1'], /--seed must be an integer >= 0, got -1/);
    bad(['--lr=-0.1'], /--lr must be a positive number, got -0.1/);
    bad(['--lr', 'Infinity'], /--lr must be a positive number, got Infinity/);
    bad(['--milestones', '4,x'], /--milestones must be a positive integer, got x/);
    bad(['--objective', 'mse'], /--objective must be ece or nll, got mse/);
    bad(['--size', '100x64'], /--size must be WxH with both multiples of 32/);
    bad(['--bogus'], /Unknown option '--bogus'/);
    expect(() => parseOptions(specs, ['--epochs', 'x'])).toThrow(UsageError);
    expect(() => parseSize('64x')).toThrow(UsageError);
  });

  it('writes help with each default filled in from the config', () => {
    const help = optionsHelp(specs).join('\n');
    expect(help).toMatch(new RegExp(`--epochs +${TRAINING.epochs.help} \\(default 15\\)`));
    expect(help).toMatch(/--milestones +.* \(default 4,6,8\)/);
    expect(help).not.toMatch(/--resume.*default/);
  });
});

describe('the commands', () => {
  it("take their defaults from the config table: chh train's and chh calibrate's help say what TRAINING and CALIBRATION hold", () => {
    const train = commandHelp('train', COMMANDS.train);
    expect(train).toMatch(new RegExp(`--epochs +${TRAINING.epochs.help} \\(default ${TRAINING.epochs.default}\\)`));
    expect(train).toMatch(new RegExp(`--lr +${TRAINING.lr.help} \\(default ${TRAINING.lr.default}\\)`));
    const calibrate = commandHelp('calibrate', COMMANDS.calibrate);
    expect(calibrate).toMatch(new RegExp(`--epochs +${CALIBRATION.epochs.help} \\(default ${CALIBRATION.epochs.default}\\)`));
    expect(calibrate).toMatch(new RegExp(`--lr +${CALIBRATION.lr.help} \\(default ${CALIBRATION.lr.default}\\)`));
  });
});
