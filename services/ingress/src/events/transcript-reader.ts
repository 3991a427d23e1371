import { isFinalState, type AgentEvent, type TaskStore, type TranscriptArchive } from '@agentq/shared';
import { archiveCall } from '../http/archive-call.js';

export const PAGE_SIZE = 1000;

export interface Batch {
  events: AgentEvent[];
  /** `archive` once the Redis stream is gone: the archive is then complete and nothing follows. */
  from: 'redis' | 'archive';
}

/** True for the event that ends every transcript: the task's final state. */
export function isFinalEvent(event: AgentEvent): boolean {
  return event.kind === 'task.state' && isFinalState(event.state);
}

/** Reads a task's events from its Redis stream, or from the archive once the stream has expired. */
export class TranscriptReader {
  constructor(
    private readonly store: TaskStore,
    private readonly archive: TranscriptArchive,
  ) {}

  /** The next events after `afterSeq` (a page from Redis, or everything left in the archive). */
  async next(taskId: string, afterSeq: number): Promise<Batch> {
    const events = await this.store.readEvents(taskId, afterSeq, PAGE_SIZE);
    if (events.length > 0 || (await this.store.eventsExist(taskId))) return { events, from: 'redis' };
    return { events: await archiveCall(() => this.archive.readEvents(taskId, afterSeq)), from: 'archive' };
  }

  /** Every event after `afterSeq` written so far. */
  async all(taskId: string, afterSeq: number): Promise<AgentEvent[]> {
    const out: AgentEvent[] = [];
    let after = afterSeq;
    for (;;) {
      const batch = await this.next(taskId, after);
      out.push(...batch.events);
      const last = batch.events[batch.events.length - 1];
      if (batch.from === 'archive' || batch.events.length < PAGE_SIZE || !last) return out;
      after = last.seq;
    }
  }
}
