import { join } from 'node:path';
import { registryGaps, scanErrorCodes } from '@agentq/shared/testing';
import { describe, expect, it } from 'vitest';
import { INGRESS_ERRORS } from '../src/http/ingress-errors.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('ingress error registry', () => {
  it('lists every code the ingress answers with, and every code it lists is used', async () => {
    const scan = await scanErrorCodes({ root: ROOT, dirs: ['services/ingress/src'], prefix: 'INGRESS', ignore: ['INGRESS_ERRORS'] });
    const { unknown, unused } = registryGaps(INGRESS_ERRORS, scan);
    expect(unknown, 'codes used but not in INGRESS_ERRORS').toEqual([]);
    expect(unused, 'codes in INGRESS_ERRORS that nothing uses').toEqual([]);
    expect(scan.used.size).toBeGreaterThan(20);
  });

  it('gives every code an HTTP status and a meaning', () => {
    for (const [code, spec] of Object.entries(INGRESS_ERRORS)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
      expect(spec.meaning.length, code).toBeGreaterThan(10);
    }
  });
});
