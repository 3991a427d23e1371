import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  DEMO_REPO,
  DEMO_REPO_FILES,
  LocalForge,
  TaskStore,
  connectRedis,
  createLogger,
  serviceSecrets,
  isFinalState,
  loadConfig,
  redisKeys,
  type AgentEvent,
  type Config,
  type Logger,
  type RedisKeys,
  type TaskRecord,
  type TaskRequest,
} from '@agentq/shared';
import { makeTempDir, uniquePrefix, waitFor } from '@agentq/shared/testing';
import { startDispatcher, type Dispatcher, type DispatcherDeps, type WorkerTuning } from '../../src/dispatcher.js';
import { RuntimeSecrets } from '../../src/runtime-secrets.js';
import { enqueueTask, openTaskQueue, requestCancel, type TaskFields, type TaskQueue } from './enqueue.js';

export interface DispatcherFixture {
  config: Config;
  keys: RedisKeys;
  store: TaskStore;
  forge: LocalForge;
  redis: Redis;
  /** The task queue, as the ingress opens it. */
  queue: Queue;
  dataDir: string;
  /** Everything the dispatcher logged. */
  logs: string[];
  logger: Logger;
  /** The redactor the dispatchers, the store and the logger share. */
  secrets: RuntimeSecrets;
  dispatcher: Dispatcher;
  submit(request: Pick<TaskRequest, 'repo' | 'prompt'> & Partial<TaskRequest>, fields?: TaskFields): Promise<string>;
  cancel(id: string): Promise<void>;
  waitFinal(id: string, timeoutMs?: number): Promise<TaskRecord>;
  waitState(id: string, state: TaskRecord['state'], timeoutMs?: number): Promise<TaskRecord>;
  events(id: string): Promise<AgentEvent[]>;
  /** Starts another dispatcher on the same Redis, data dir and logs. */
  startAnother(): Promise<Dispatcher>;
  close(): Promise<void>;
}

/** Kills the process groups of sandboxes still running (what `npm start` does on Ctrl-C). */
async function killLeftoverSandboxes(dataDir: string): Promise<void> {
  const root = join(dataDir, 'sandboxes');
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const pid = Number((await readFile(join(root, name, 'pid'), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 1) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

/** A dispatcher on a fresh prefix and data dir with the demo repository seeded. */
export async function startDispatcherFixture(
  redisUrl: string,
  env: Record<string, string> = {},
  worker: WorkerTuning = { cancelPollMs: 200 },
  extra: Pick<DispatcherDeps, 'github' | 'provider'> = {},
): Promise<DispatcherFixture> {
  const data = await makeTempDir('agentq-dispatch-');
  const config = loadConfig({
    REDIS_URL: redisUrl,
    AGENTQ_REDIS_PREFIX: uniquePrefix('disp'),
    AGENTQ_DATA_DIR: data.path,
    AGENTQ_HARNESS: 'demo',
    AGENTQ_DEMO_DELAY_MS: '0',
    AGENTQ_LOG_LEVEL: 'debug',
    AGENTQ_DISPATCHER_CONCURRENCY: '2',
    ...env,
  });
  const keys = redisKeys(config.redisPrefix);
  const forge = new LocalForge(config.dataDir);
  await forge.seed(DEMO_REPO, DEMO_REPO_FILES);
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  // as in main.ts: the logger shares the dispatcher's redactor (which learns the tokens of running tasks)
  const secrets = new RuntimeSecrets(serviceSecrets(config));
  const redact = secrets.redact;
  const logger = createLogger({ service: 'dispatcher', level: 'debug', redact, destination });
  const redis = connectRedis(redisUrl);
  const bull = connectRedis(redisUrl, { bullmq: true });
  const store = new TaskStore(redis, keys, { redact });
  const queue: TaskQueue = openTaskQueue(bull, keys);
  const dispatchers: Dispatcher[] = [];
  const start = async () => {
    const d = await startDispatcher({ config, logger, worker, secrets, ...extra });
    dispatchers.push(d);
    return d;
  };
  const dispatcher = await start();

  const waitState = (id: string, state: TaskRecord['state'], timeoutMs = 15_000) =>
    waitFor(
      async () => {
        const task = await store.get(id);
        return task?.state === state ? task : undefined;
      },
      { timeoutMs, intervalMs: 50, what: `task ${id} to be ${state}` },
    );

  return {
    config,
    keys,
    store,
    forge,
    redis,
    queue: queue.queue,
    dataDir: data.path,
    logs,
    logger,
    secrets,
    dispatcher,
    submit: (request, fields) => enqueueTask({ redis, keys, store, queue: queue.queue }, request, { fields }),
    cancel: (id) => requestCancel({ redis, keys, store }, id),
    waitFinal: (id, timeoutMs = 15_000) =>
      waitFor(
        async () => {
          const task = await store.get(id);
          return task && isFinalState(task.state) ? task : undefined;
        },
        { timeoutMs, intervalMs: 50, what: `task ${id} to finish` },
      ),
    waitState,
    events: (id) => store.readEvents(id, 0, 100_000),
    startAnother: start,
    close: async () => {
      for (const d of dispatchers) await d.close();
      await killLeftoverSandboxes(data.path);
      await queue.close();
      redis.disconnect();
      bull.disconnect();
      await data.remove();
    },
  };
}
