import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { tasksPage, tasksPageHeaders } from './tasks-page.js';

/** `GET /tasks`: the signed-in team's tasks, read by the page itself from the task API. */
export function registerTasksPageRoute(app: FastifyInstance): void {
  app.get('/tasks', async (_request, reply) => {
    const nonce = randomBytes(16).toString('base64');
    return reply.code(200).headers(tasksPageHeaders(nonce)).send(tasksPage(nonce));
  });
}
