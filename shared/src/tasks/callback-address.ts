import { BlockList, isIP } from 'node:net';

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

export type CallbackAddressReason = 'private' | 'loopback';

/**
 * Why a completion callback may not connect to `address` (`private` or `loopback`), or undefined
 * when it may. Loopback is allowed only with `loopbackAllowed`: when the callback's host is itself
 * a loopback host (`localhost`, `127.0.0.1`, `::1`).
 */
export function callbackAddressProblem(address: string, loopbackAllowed: boolean): CallbackAddressReason | undefined {
  const plain = unmapped(address);
  const family = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
  if (LOOPBACK.check(plain, family)) return loopbackAllowed ? undefined : 'loopback';
  return NOT_ROUTABLE.check(plain, family) ? 'private' : undefined;
}

