import { describe, expect, it } from 'vitest';
import { LOOPBACK_CALLBACK_HOSTS, callbackAddressProblem, normalizeCallbackHost } from '../src/index.js';

describe('callbackAddressProblem', () => {
  const cases: [host: string, address: string, problem: 'private' | 'loopback' | undefined][] = [
    ['hooks.example.com', '93.184.216.34', undefined],
    ['hooks.example.com', '2606:2800:220:1:248:1893:25c8:1946', undefined],
    ['hooks.example.com', '10.1.2.3', 'private'],
    ['hooks.example.com', '172.16.0.1', 'private'],
    ['hooks.example.com', '172.31.255.255', 'private'],
    ['hooks.example.com', '172.32.0.1', undefined],
    ['hooks.example.com', '192.168.1.1', 'private'],
    ['hooks.example.com', '169.254.169.254', 'private'],
    ['hooks.example.com', '100.64.0.1', 'private'],
    ['hooks.example.com', '0.0.0.0', 'private'],
    ['hooks.example.com', '224.0.0.1', 'private'],
    ['hooks.example.com', '255.255.255.255', 'private'],
    ['hooks.example.com', '::', 'private'],
    ['hooks.example.com', 'fd00::1', 'private'],
    ['hooks.example.com', 'fe80::1', 'private'],
    ['hooks.example.com', '::ffff:10.0.0.1', 'private'],
    ['hooks.example.com', '::ffff:127.0.0.1', 'loopback'],
    ['hooks.example.com', '127.0.0.1', 'loopback'],
    ['hooks.example.com', '127.9.9.9', 'loopback'],
    ['hooks.example.com', '::1', 'loopback'],
    ['localhost', '127.0.0.1', undefined],
    ['localhost.', '::1', undefined],
    ['127.0.0.1', '127.0.0.1', undefined],
    ['::1', '::1', undefined],
    ['[::1]', '::1', undefined],
    ['localhost', '10.0.0.1', 'private'],
  ];
  for (const [host, address, problem] of cases) {
    it(`${host} at ${address}: ${problem ?? 'allowed'}`, () => {
      expect(callbackAddressProblem(address, LOOPBACK_CALLBACK_HOSTS.includes(normalizeCallbackHost(host)))).toBe(problem);
    });
  }
});
