import type { Config } from '@agentq/shared';
import { ingressError } from '../http/ingress-errors.js';

/** Seconds a client refused a live stream should wait before trying again. */
export const STREAM_RETRY_AFTER_SEC = 10;

export type StreamCap = 'total' | 'address' | 'team' | 'viewer_key';

/** Who opens a stream: its client address, and its team (API token) or the task of its viewer key. */
export interface StreamOwner {
  address: string;
  team?: string;
  viewerTask?: string;
}

/**
 * Counts the open live streams, in total and per client address, team and viewer link, and
 * refuses one more beyond a cap (`429 INGRESS_TOO_MANY_STREAMS`).
 */
export class StreamLimits {
  private total = 0;
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly caps: Config['sse'],
    private readonly onRefused: (cap: StreamCap) => void = () => {},
  ) {}

  get open(): number {
    return this.total;
  }

  /** Counts one stream of `owner`; the function returned uncounts it (once). */
  acquire(owner: StreamOwner): () => void {
    const slots: [StreamCap, string | undefined, number][] = [
      ['address', `a:${owner.address}`, this.caps.maxPerAddress],
      ['team', owner.team === undefined ? undefined : `t:${owner.team}`, this.caps.maxPerTeam],
      ['viewer_key', owner.viewerTask === undefined ? undefined : `v:${owner.viewerTask}`, this.caps.maxPerViewerKey],
    ];
    if (this.total >= this.caps.maxStreams) this.refuse('total', this.caps.maxStreams);
    for (const [cap, key, limit] of slots) {
      if (key !== undefined && (this.counts.get(key) ?? 0) >= limit) this.refuse(cap, limit);
    }
    const keys = slots.flatMap(([, key]) => (key === undefined ? [] : [key]));
    this.total++;
    for (const key of keys) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      for (const key of keys) {
        const left = (this.counts.get(key) ?? 1) - 1;
        if (left === 0) this.counts.delete(key);
        else this.counts.set(key, left);
      }
    };
  }

  private refuse(cap: StreamCap, limit: number): never {
    this.onRefused(cap);
    throw ingressError('INGRESS_TOO_MANY_STREAMS', `too many open event streams (${cap} cap ${limit}); close one or retry later`, {
      details: { cap, limit, retryAfterSec: STREAM_RETRY_AFTER_SEC },
    });
  }
}
