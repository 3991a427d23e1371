import { describe, expect, it } from 'vitest';
import { AgentqError, RegistryError, defineErrors, errorTable, registryError } from '../src/index.js';

describe('error registries', () => {
  const registry = defineErrors({
    DEMO_NOT_FOUND: { status: 404, meaning: 'no such thing' },
    DEMO_BROKEN: { meaning: 'it broke' },
  });

  it('makes errors with the code\'s status (500 without one)', () => {
    const notFound = registryError(registry, 'DEMO_NOT_FOUND', 'thing 7 not found', { details: { id: 7 } });
    expect(notFound).toBeInstanceOf(AgentqError);
    expect(notFound.toJSON()).toEqual({ code: 'DEMO_NOT_FOUND', message: 'thing 7 not found', details: { id: 7 } });
    expect(notFound.status).toBe(404);
    expect(registryError(registry, 'DEMO_BROKEN', 'x').status).toBe(500);
  });

  it('is the base of a service\'s error classes: their name, the code\'s status', () => {
    class DemoError extends RegistryError<'DEMO_NOT_FOUND' | 'DEMO_BROKEN'> {
      constructor(message: string) {
        super(registry, 'DEMO_NOT_FOUND', message);
      }
    }
    const err = new DemoError('gone');
    expect(err).toBeInstanceOf(AgentqError);
    expect(err.name).toBe('DemoError');
    expect(err.status).toBe(404);
    expect(err.toJSON()).toEqual({ code: 'DEMO_NOT_FOUND', message: 'gone' });
  });

  it('refuses codes that are not prefixed UPPER_SNAKE_CASE, and codes without a meaning', () => {
    expect(() => defineErrors({ notACode: { meaning: 'x' } })).toThrow(/UPPER_SNAKE_CASE/);
    expect(() => defineErrors({ NOPREFIX: { meaning: 'x' } })).toThrow(/UPPER_SNAKE_CASE/);
    expect(() => defineErrors({ DEMO_EMPTY: { meaning: ' ' } })).toThrow(/no meaning/);
  });

  it('renders a sorted table, with the HTTP status when asked', () => {
    expect(errorTable(registry)).toBe(['| Code | Meaning |', '|---|---|', '| `DEMO_BROKEN` | it broke |', '| `DEMO_NOT_FOUND` | no such thing |'].join('\n'));
    expect(errorTable(registry, { status: true }).split('\n').slice(2)).toEqual(['| `DEMO_BROKEN` | — | it broke |', '| `DEMO_NOT_FOUND` | 404 | no such thing |']);
  });
});
