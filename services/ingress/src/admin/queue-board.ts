import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';

/** Where the queue dashboard is mounted. */
export const QUEUE_BOARD_PATH = '/admin/queues';

/**
 * What the dashboard's page and assets may do: its own scripts and styles (it sets style
 * attributes, hence `'unsafe-inline'` for styles only), calls to its own API. Web fonts from
 * elsewhere are not loaded; the system's fonts are used.
 */
export const QUEUE_BOARD_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/**
 * Mounts bull-board for the task queue at `QUEUE_BOARD_PATH` in `scope` (whose hooks guard it).
 * Read-only unless `write`: every action is then refused with 405, and the UI offers none.
 */
export async function registerQueueBoard(scope: FastifyInstance, queue: Queue, options: { write: boolean; basePath: string }): Promise<void> {
  // loaded only where the dashboard is on (it takes a fifth of a second to load)
  const [{ createBullBoard }, { BullMQAdapter }, { FastifyAdapter }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/fastify'),
  ]);
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(options.basePath);
  createBullBoard({
    queues: [new BullMQAdapter(queue, { readOnlyMode: !options.write, allowRetries: options.write, description: 'tasks waiting for, and run by, the dispatchers' })],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'agentq queues' } },
  });
  await scope.register(serverAdapter.registerPlugin(), { prefix: QUEUE_BOARD_PATH });
}
