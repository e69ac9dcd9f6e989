// torch.optim's parameters after each of three steps from fixed gradients (scripts/fixtures/optim.py), per case.
import { readFileSync } from 'node:fs';

export interface OptimFixture {
  p0: number[];
  grads: number[][];
  cases: Record<string, number[][]>;
}

export const optimFixture = JSON.parse(readFileSync('test/fixtures/optim.json', 'utf8')) as OptimFixture;
