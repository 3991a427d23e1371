import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { LOOPBACK_CALLBACK_HOSTS, callbackAddressProblem, normalizeCallbackHost, type CallbackAddressReason } from '@agentq/shared';

/** A connection of a completion callback refused because of the address its host resolved to. */
export class CallbackAddressRefused extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
    readonly reason: CallbackAddressReason,
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
    const loopbackAllowed = LOOPBACK_CALLBACK_HOSTS.includes(normalizeCallbackHost(hostname));
    for (const candidate of addresses) {
      const reason = callbackAddressProblem(candidate, loopbackAllowed);
      if (reason) return callback(new CallbackAddressRefused(hostname, candidate, reason), address, family);
    }
    return callback(null, address, family);
  });
}

/** The same check for a URL whose host is an IP address (no lookup happens for it). */
export function literalAddressProblem(hostname: string): CallbackAddressRefused | undefined {
  const host = normalizeCallbackHost(hostname);
  if (isIP(host) === 0) return undefined;
  const reason = callbackAddressProblem(host, LOOPBACK_CALLBACK_HOSTS.includes(host));
  return reason ? new CallbackAddressRefused(host, host, reason) : undefined;
}
