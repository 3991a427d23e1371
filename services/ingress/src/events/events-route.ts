import { TaskStore, isFinalState, type AgentEvent, type Logger } from '@agentq/shared';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { ApiTokenAuth } from '../auth/api-token-auth.js';
import { authorizeTranscript } from '../auth/request-auth.js';
import { invalidRequest } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';
import { loadTask, requireTaskId } from '../tasks/task-access.js';
import type { SseHub } from './sse-hub.js';
import { SseStream } from './sse-stream.js';
import { PAGE_SIZE, isFinalEvent, type Batch, type TranscriptReader } from './transcript-reader.js';

export interface EventsRouteOptions {
  store: TaskStore;
  reader: TranscriptReader;
  archive: Parameters<typeof loadTask>[1];
  auth: ApiTokenAuth;
  viewerSecret: string;
  hub: SseHub;
  logger: Logger;
  openBlockingRedis: () => Redis;
  heartbeatMs: number;
  blockMs: number;
}

interface EventsQuery {
  format?: unknown;
  after?: unknown;
  key?: unknown;
}

/** The seq to resume after: the `Last-Event-ID` header (what EventSource sends), else `?after=`. */
function resumeAfter(request: FastifyRequest<{ Querystring: EventsQuery }>): number {
  const header = request.headers['last-event-id'];
  const raw = typeof header === 'string' && header.trim() !== '' ? header.trim() : request.query.after;
  if (raw === undefined || raw === '') return 0;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) {
    throw invalidRequest([{ path: 'Last-Event-ID', message: 'must be the seq of an event (a whole number)' }]);
  }
  return Number(raw);
}

/**
 * `GET /v1/tasks/:id/events`: SSE replay after `Last-Event-ID` / `?after=`, then live events
 * (blocking reads on a connection of the stream's own) until the final `task.state` event.
 * `?format=jsonl` answers the transcript so far as NDJSON instead.
 */
export function registerEventsRoute(app: FastifyInstance, options: EventsRouteOptions): void {
  const { store, reader, hub, logger } = options;

  app.get<{ Params: { id: string }; Querystring: EventsQuery }>('/v1/tasks/:id/events', async (request, reply) => {
    const id = requireTaskId(request.params.id);
    const principal = authorizeTranscript(request, options.auth, options.viewerSecret, id);
    const task = await loadTask(store, options.archive, id, principal);
    const after = resumeAfter(request);

    if (request.query.format === 'jsonl') {
      const events = await redisCall(() => reader.all(id, after));
      return reply
        .type('application/x-ndjson; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    }
    if (request.query.format !== undefined) {
      throw invalidRequest([{ path: 'format', message: 'must be "jsonl" or absent (SSE)' }]);
    }

    const first = await redisCall(() => reader.next(id, after));
    if (first.events.length === 0 && (first.from === 'archive' || isFinalState(task.state))) {
      // nothing will follow; 204 also tells a browser EventSource not to reconnect
      return reply.code(204).header('cache-control', 'no-store').send();
    }

    reply.hijack();
    const stream = new SseStream(reply.raw, options.heartbeatMs);
    stream.onClose(hub.add(stream));
    void follow(stream, id, after, first, reply).catch((err: unknown) => {
      if (!stream.isClosed) logger.warn({ taskId: id, err }, 'event stream failed');
      stream.close();
    });
    return reply;
  });

  /** Sends `first`, then everything that follows, until the final event or the client leaves. */
  async function follow(
    stream: SseStream,
    id: string,
    after: number,
    first: Batch,
    reply: FastifyReply,
  ): Promise<void> {
    let lastSeq = after;
    const sendAll = async (events: AgentEvent[]): Promise<boolean> => {
      for (const event of events) {
        if (event.seq <= lastSeq) continue;
        await stream.send(event);
        lastSeq = event.seq;
        if (isFinalEvent(event)) return true;
      }
      return false;
    };

    let batch = first;
    for (;;) {
      if ((await sendAll(batch.events)) || batch.from === 'archive') return stream.close();
      if (batch.events.length < PAGE_SIZE || stream.isClosed) break;
      batch = await reader.next(id, lastSeq);
    }
    if (stream.isClosed) return;

    const blocking = options.openBlockingRedis();
    blocking.on('error', (err) => reply.log.debug({ taskId: id, err }, 'event stream connection error'));
    stream.onClose(() => blocking.disconnect());
    try {
      while (!stream.isClosed) {
        const events = await TaskStore.waitForEvents(blocking, store.keys, id, lastSeq, options.blockMs);
        if (stream.isClosed) return;
        if (events.length > 0) {
          if (await sendAll(events)) return stream.close();
          continue;
        }
        // quiet for a while: the stream may have expired, or the task ended without us seeing it
        const next = await reader.next(id, lastSeq);
        if ((await sendAll(next.events)) || next.from === 'archive') return stream.close();
        const record = await store.get(id);
        if (!record || (isFinalState(record.state) && (record.lastSeq ?? 0) <= lastSeq)) return stream.close();
      }
    } finally {
      blocking.disconnect();
    }
  }
}
