import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { LOOPBACK_CALLBACK_HOSTS, normalizeCallbackHost } from '@agentq/shared';

/** Addresses no completion callback connects to: private, shared, link-local, unspecified, multicast, reserved. */
const NOT_ROUTABLE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_ROUTABLE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['64:ff9b::', 96],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  NOT_ROUTABLE.addSubnet(net, prefix, 'ipv6');
}
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) stands for. */
function unmapped(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match?.[1] ?? address;
}

/**
 * Why a completion callback to `host` may not connect to `address` (`private` or `loopback`),
 * or undefined when it may. Loopback is allowed only when the callback's host is itself a
 * loopback host (`localhost`, `127.0.0.1`, `::1`).
 */
export function callbackAddressProblem(host: string, address: string): 'private' | 'loopback' | undefined {
  const plain = unmapped(address);
  const family = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
  if (LOOPBACK.check(plain, family)) return LOOPBACK_CALLBACK_HOSTS.includes(normalizeCallbackHost(host)) ? undefined : 'loopback';
  return NOT_ROUTABLE.check(plain, family) ? 'private' : undefined;
}

/** A connection of a completion callback refused because of the address its host resolved to. */
export class CallbackAddressRefused extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly reason: 'private' | 'loopback',
  ) {
    super(`callbacks may not connect to ${reason} address ${address} (resolved from ${host})`);
    this.name = 'CallbackAddressRefused';
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `net.connect`/`tls.connect`: resolves as usual, then refuses (`CallbackAddressRefused`)
 * when an address it would connect to is not allowed. It runs for the connection itself, so a
 * name that resolves elsewhere at connect time than at any earlier check (DNS rebinding) is caught.
 */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options }, (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => {
    if (err) return callback(err, address, family);
    const addresses = Array.isArray(address) ? address.map((a) => a.address) : [address];
    for (const candidate of addresses) {
      const reason = callbackAddressProblem(hostname, candidate);
      if (reason) return callback(new CallbackAddressRefused(hostname, candidate, reason), address, family);
    }
    return callback(null, address, family);
  });
}

/** The same check for a URL whose host is an IP address (no lookup happens for it). */
export function literalAddressProblem(hostname: string): CallbackAddressRefused | undefined {
  const host = normalizeCallbackHost(hostname);
  if (isIP(host) === 0) return undefined;
  const reason = callbackAddressProblem(host, host);
  return reason ? new CallbackAddressRefused(host, host, reason) : undefined;
}
