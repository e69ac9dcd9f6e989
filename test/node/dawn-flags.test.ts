// CHH_DAWN_FLAGS: the Dawn toggles the CLI and the bench pass to createNodeEngine (e.g. Dawn's unsafe APIs, which its
// subgroup matrices need), split on spaces and commas.
import { describe, expect, it } from 'vitest';
import { envDawnFlags } from '../../src/node/gpu.ts';

describe('CHH_DAWN_FLAGS', () => {
  it('gives no flags when unset or blank, and each flag once split', () => {
    expect(envDawnFlags({})).toEqual([]);
    expect(envDawnFlags({ CHH_DAWN_FLAGS: '  ' })).toEqual([]);
    expect(envDawnFlags({ CHH_DAWN_FLAGS: 'enable-dawn-features=allow_unsafe_apis' })).toEqual(['enable-dawn-features=allow_unsafe_apis']);
    expect(envDawnFlags({ CHH_DAWN_FLAGS: 'a=1, b=2  c=3' })).toEqual(['a=1', 'b=2', 'c=3']);
  });
});
