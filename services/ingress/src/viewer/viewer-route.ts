import { randomBytes } from 'node:crypto';
import { isAgentqError, isTaskId, verifyViewerKey, type TaskStore, type TranscriptArchive } from '@agentq/shared';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { loadTask } from '../tasks/task-access.js';
import { viewerErrorPage, viewerHeaders, viewerPage } from './viewer-page.js';

export interface ViewerRouteOptions {
  store: TaskStore;
  archive: TranscriptArchive;
  viewerSecret: string;
}

/** `GET /tasks/:id?key=<viewer key>`: the live transcript page that viewer links point at. */
export function registerViewerRoute(app: FastifyInstance, options: ViewerRouteOptions): void {
  const fail = (reply: FastifyReply, nonce: string, status: number, title: string, message: string) =>
    reply.code(status).headers(viewerHeaders(nonce)).send(viewerErrorPage(title, message, nonce));

  app.get<{ Params: { id: string }; Querystring: { key?: unknown } }>('/tasks/:id', async (request, reply) => {
    const nonce = randomBytes(16).toString('base64');
    const { id } = request.params;
    const key = request.query.key;
    if (!isTaskId(id)) return fail(reply, nonce, 404, 'Task not found', 'This link does not name a task.');
    if (typeof key !== 'string' || !verifyViewerKey(options.viewerSecret, id, key)) {
      return fail(reply, nonce, 403, 'Link not valid', 'This viewer link is not valid for this task. Ask for a new link.');
    }
    try {
      const task = await loadTask(options.store, options.archive, id, undefined);
      return reply.code(200).headers(viewerHeaders(nonce)).send(viewerPage(task, nonce));
    } catch (err) {
      if (isAgentqError(err) && err.status === 404) return fail(reply, nonce, 404, 'Task not found', 'No task with this id exists.');
      if (isAgentqError(err) && err.status === 503) {
        reply.header('retry-after', '5');
        return fail(reply, nonce, 503, 'Temporarily unavailable', 'The task store cannot be reached right now. Reload in a moment.');
      }
      throw err;
    }
  });
}
