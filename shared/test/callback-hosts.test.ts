import { describe, expect, it } from 'vitest';
import { callbackUrlProblem, controlCharacterIn, parseCallbackHostEntry } from '../src/index.js';

describe('AGENTQ_CALLBACK_HOSTS entries', () => {
  const entries: [string, ReturnType<typeof parseCallbackHostEntry>][] = [
    ['hooks.example.com', { host: 'hooks.example.com' }],
    ['HOOKS.example.com.', { host: 'hooks.example.com' }],
    ['hooks.example.com:8443', { host: 'hooks.example.com', port: 8443 }],
    ['*.example.com:*', { host: '*.example.com', port: '*' }],
    ['10.0.0.5:9000', { host: '10.0.0.5', port: 9000 }],
    ['::1', { host: '::1' }],
    ['[::1]', { host: '::1' }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['hooks.example.com:0', undefined],
    ['hooks.example.com:65536', undefined],
    ['hooks.example.com:', undefined],
    ['::1:*', undefined],
    ['[hooks.example.com]:80', undefined],
    ['https://hooks.example.com', undefined],
    ['*', undefined],
  ];
  for (const [entry, parsed] of entries) {
    it(`reads ${JSON.stringify(entry)}`, () => {
      expect(parseCallbackHostEntry(entry)).toEqual(parsed);
    });
  }
});

describe('callbackUrlProblem and ports', () => {
  const hosts = ['hooks.example.com', 'alt.example.com:8443', 'any.example.com:*', 'localhost:3000'];
  const cases: [string, string | undefined][] = [
    ['https://hooks.example.com/x', undefined],
    ['https://hooks.example.com:443/x', undefined],
    ['https://hooks.example.com:6379/x', 'port'],
    ['https://alt.example.com:8443/x', undefined],
    ['https://alt.example.com/x', 'port'],
    ['https://any.example.com:1/x', undefined],
    ['http://localhost:3000/x', undefined],
    ['http://localhost/x', 'port'],
    ['http://localhost:6379/x', 'port'],
    ['https://other.example.com/x', 'host_not_allowed'],
  ];
  for (const [url, reason] of cases) {
    it(`${url}: ${reason ?? 'allowed'}`, () => {
      expect(callbackUrlProblem(url, hosts)?.reason).toBe(reason);
    });
  }
});

describe('controlCharacterIn', () => {
  it('finds C0 but tab, line feed and carriage return, DEL and C1, and nothing in ordinary text', () => {
    expect(controlCharacterIn('fix\tthe\r\nparser — café 😀 \u00a0')).toBeUndefined();
    expect(controlCharacterIn('a\u0000b')).toBe('U+0000');
    expect(controlCharacterIn('a\u001bb')).toBe('U+001B');
    expect(controlCharacterIn('a\u007fb')).toBe('U+007F');
    expect(controlCharacterIn('a\u0085b')).toBe('U+0085');
    expect(controlCharacterIn('a\u009fb')).toBe('U+009F');
    expect(controlCharacterIn('a\u000bb')).toBe('U+000B');
  });
});
