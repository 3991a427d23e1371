import type { AgentEvent } from '../events/agent-event.js';

/** The events of `events` that go past `lastSeq`, each above the one before (what an append stores). */
export function eventsAfter(events: AgentEvent[], lastSeq: number): AgentEvent[] {
  const fresh: AgentEvent[] = [];
  let last = lastSeq;
  for (const event of events) {
    if (event.seq <= last) continue;
    fresh.push(event);
    last = event.seq;
  }
  return fresh;
}

/** One event per line, as stored. */
export function toJsonl(events: AgentEvent[]): string {
  return events.map((e) => `${JSON.stringify(e)}\n`).join('');
}
