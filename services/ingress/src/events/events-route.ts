import { isFinalState, type Logger, type TaskStore } from '@agentq/shared';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiTokenAuth } from '../auth/api-token-auth.js';
import { authorizeTranscript } from '../auth/request-auth.js';
import { invalidRequest } from '../http/ingress-errors.js';
import { redisCall } from '../http/redis-call.js';
import { loadTask, requireTaskId } from '../tasks/task-access.js';
import type { SseHub } from './sse-hub.js';
import { SseStream } from './sse-stream.js';
import type { StreamLimits } from './stream-limits.js';
import type { TranscriptReader } from './transcript-reader.js';

export interface EventsRouteOptions {
  store: TaskStore;
  reader: TranscriptReader;
  archive: Parameters<typeof loadTask>[1];
  auth: ApiTokenAuth;
  viewerSecret: string;
  hub: SseHub;
  limits: StreamLimits;
  logger: Logger;
  heartbeatMs: number;
  /** Events held for a client that reads slowly before it is disconnected. */
  clientBuffer: number;
  /** Counts a stream closed because its client fell too far behind. */
  onTooSlow: () => void;
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
 * (from the hub's shared reads) until the final `task.state` event; open streams are capped
 * (`StreamLimits`).
 * `?format=jsonl` answers the transcript so far as NDJSON instead.
 */
export function registerEventsRoute(app: FastifyInstance, options: EventsRouteOptions): void {
  const { store, reader, hub, logger } = options;

  app.get<{ Params: { id: string }; Querystring: EventsQuery }>('/v1/tasks/:id/events', async (request, reply) => {
    const id = requireTaskId(request.params.id);
    const principal = authorizeTranscript(request, options.auth, options.viewerSecret, id);
    if (request.query.format === 'jsonl') {
      await loadTask(store, options.archive, id, principal);
      const events = await redisCall(() => reader.all(id, resumeAfter(request)));
      return reply
        .type('application/x-ndjson; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    }
    if (request.query.format !== undefined) {
      throw invalidRequest([{ path: 'format', message: 'must be "jsonl" or absent (SSE)' }]);
    }

    // counted before any Redis work, so that refused streams cost nothing
    const release = options.limits.acquire({
      address: request.ip,
      team: principal?.team,
      viewerTask: principal ? undefined : id,
    });
    let stream: SseStream;
    let after: number;
    try {
      const task = await loadTask(store, options.archive, id, principal);
      after = resumeAfter(request);
      const first = await redisCall(() => reader.next(id, after));
      if (first.events.length === 0 && (first.from === 'archive' || isFinalState(task.state))) {
        release();
        // nothing will follow; 204 also tells a browser EventSource not to reconnect
        return reply.code(204).header('cache-control', 'no-store').send();
      }
      reply.hijack();
      stream = new SseStream(reply.raw, options.heartbeatMs, options.clientBuffer);
    } catch (err) {
      release();
      throw err;
    }
    stream.onClose(() => {
      release();
      if (stream.tooSlow) options.onTooSlow();
    });
    void hub.follow(stream, id, after, options.clientBuffer).catch((err: unknown) => {
      if (!stream.isClosed) logger.warn({ taskId: id, err }, 'event stream failed');
      stream.close();
    });
    return reply;
  });
}
