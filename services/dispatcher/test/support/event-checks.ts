import type { AgentEvent } from '@agentq/shared';
import { expect } from 'vitest';

/** The events' seqs run 1..N with no gap and no repeat. */
export function expectContiguous(events: AgentEvent[]): void {
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
}
