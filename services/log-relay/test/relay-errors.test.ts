import { registryGaps, scanErrorCodes } from '@agentq/shared/testing';
import { describe, expect, it } from 'vitest';
import { RELAY_ERRORS } from '../src/relay-errors.js';
import { REPO_ROOT } from './support.js';

describe('relay error registry', () => {
  it('lists every code the relay logs or throws, and every code it lists is used', async () => {
    const scan = await scanErrorCodes({ root: REPO_ROOT, dirs: ['services/log-relay/src'], prefix: 'RELAY', ignore: ['RELAY_ERRORS', 'RELAY_GROUP'] });
    const { unknown, unused } = registryGaps(RELAY_ERRORS, scan);
    expect(unknown, 'codes used but not in RELAY_ERRORS').toEqual([]);
    expect(unused, 'codes in RELAY_ERRORS that nothing uses').toEqual([]);
    // the scan finds codes at all (it would pass on an empty source tree otherwise)
    expect(scan.used.size).toBeGreaterThan(20);
  });

  it('gives every code a meaning', () => {
    for (const [code, spec] of Object.entries(RELAY_ERRORS)) {
      expect(code).toMatch(/^RELAY_[A-Z0-9_]+$/);
      expect(spec.meaning.length, code).toBeGreaterThan(20);
    }
  });
});
