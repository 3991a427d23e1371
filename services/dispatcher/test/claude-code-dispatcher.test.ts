import { Writable } from 'node:stream';
import { join, resolve } from 'node:path';
import {
  TaskStore,
  branchName,
  connectRedis,
  createLogger,
  LocalForge,
  git,
  isFinalState,
  loadConfig,
  lookupGatewayToken,
  redisKeys,
  serviceSecrets,
  type AgentEvent,
  type Config,
  type TaskRecord,
} from '@agentq/shared';
import { makeTempDir, startTestRedis, uniquePrefix, waitFor, type TestRedis } from '@agentq/shared/testing';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDispatcher } from '../src/dispatcher.js';
import { RuntimeSecrets } from '../src/runtime-secrets.js';
import { enqueueTask, openTaskQueue, type EnqueueContext, type TaskQueue } from './support/enqueue.js';
import { FakeAnthropic, text, toolUse } from '@agentq/shared/testing';

const CLAUDE_BIN = resolve(import.meta.dirname, '../../../node_modules/.bin/claude');
const API_KEY = 'sk-ant-dispatch-3f9b27c1d0e84a6b';
const REPO = 'acme/app';
const GATEWAY_TOKEN = /^aqg_[A-Za-z0-9_-]{43}$/;

interface Stack {
  config: Config;
  forge: LocalForge;
  /** What `enqueueTask` needs: the clients the ingress would hold. */
  submit: EnqueueContext;
  store: TaskStore;
  redis: Redis;
  logs: string[];
  close(): Promise<void>;
}

/** Every value stored under the prefix (hashes, streams, strings, lists, sets), as one text. */
async function dumpPrefix(redis: Redis, prefix: string): Promise<string> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', '500');
    cursor = next;
    for (const key of keys) {
      const type = await redis.type(key);
      let value: unknown;
      if (type === 'hash') value = await redis.hgetall(key);
      else if (type === 'stream') value = await redis.xrange(key, '-', '+');
      else if (type === 'string') value = await redis.get(key);
      else if (type === 'list') value = await redis.lrange(key, 0, -1);
      else if (type === 'set') value = await redis.smembers(key);
      else if (type === 'zset') value = await redis.zrange(key, '0', '-1', 'WITHSCORES');
      out.push(`${key} ${JSON.stringify(value)}`);
    }
  } while (cursor !== '0');
  return out.join('\n');
}

describe('dispatcher running tasks with the real Claude Code CLI', () => {
  let testRedis: TestRedis;
  let fake: FakeAnthropic;
  let tmp: { path: string; remove: () => Promise<void> };
  let stack: Stack | undefined;

  beforeAll(async () => {
    testRedis = await startTestRedis();
    // the model gateway's Anthropic route, as the sandbox reaches it (no ingress here)
    fake = await FakeAnthropic.start({ prefix: '/llm/anthropic' });
  });
  afterAll(async () => {
    await fake?.close();
    await testRedis?.stop();
  });
  beforeEach(async () => {
    tmp = await makeTempDir('agentq-cc-dispatch-');
    fake.requests.length = 0;
    fake.failWith(undefined);
    fake.authorize(undefined);
  });
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
    await tmp.remove();
  });

  async function start(): Promise<Stack> {
    const config = loadConfig({
      REDIS_URL: testRedis.url,
      AGENTQ_DATA_DIR: join(tmp.path, 'data'),
      AGENTQ_REDIS_PREFIX: uniquePrefix('cc'),
      AGENTQ_HARNESS: 'claude-code',
      AGENTQ_CLAUDE_BIN: CLAUDE_BIN,
      // the gateway's own key: the dispatcher learns from it that the gateway serves Anthropic
      ANTHROPIC_API_KEY: API_KEY,
      AGENTQ_GATEWAY_URL: fake.url,
      AGENTQ_DISPATCHER_PORT: '0',
      AGENTQ_LOG_LEVEL: 'debug',
    });
    const logs: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    const secrets = new RuntimeSecrets(serviceSecrets(config));
    const logger = createLogger({ service: 'dispatcher', level: config.logLevel, redact: secrets.redact, destination });
    const forge = new LocalForge(config.dataDir);
    await forge.seed(REPO, { 'README.md': '# app\n' });
    const keys = redisKeys(config.redisPrefix);
    const redis = connectRedis(testRedis.url);
    const bull = connectRedis(testRedis.url, { bullmq: true });
    const taskQueue: TaskQueue = openTaskQueue(bull, keys);
    const store = new TaskStore(redis, keys);
    // as the gateway does: only a live token of a task gets through
    fake.authorize(async (credential) => credential !== undefined && (await lookupGatewayToken(redis, keys, credential)) !== undefined);
    const dispatcher = await startDispatcher({ config, logger, secrets });
    return {
      config,
      forge,
      submit: { redis, keys, store, queue: taskQueue.queue },
      store,
      redis,
      logs,
      close: async () => {
        await dispatcher.close();
        await taskQueue.close();
        bull.disconnect();
        redis.disconnect();
      },
    };
  }

  async function finalRecord(s: Stack, taskId: string): Promise<TaskRecord> {
    try {
      return await waitFor(
        async () => {
          const record = await s.store.get(taskId);
          return record && isFinalState(record.state) ? record : undefined;
        },
        { timeoutMs: 45_000, intervalMs: 100, what: `task ${taskId} to end` },
      );
    } catch (err) {
      const record = await s.store.get(taskId);
      throw new Error(`${(err as Error).message}; record: ${JSON.stringify(record)}; logs:\n${s.logs.slice(-20).join('')}`, { cause: err });
    }
  }

  it('runs a task whose Write lands on the task branch', async () => {
    stack = await start();
    const content = 'Contributions welcome.\n';
    fake.script([
      ({ cwd }) => ({
        content: [text("I'll add CONTRIBUTING.md."), toolUse('Write', { file_path: join(cwd ?? '/nonexistent', 'CONTRIBUTING.md'), content })],
      }),
      { content: [text('Added CONTRIBUTING.md.')] },
    ]);
    const prompt = 'add a CONTRIBUTING.md';
    const taskId = await enqueueTask(stack.submit, { repo: REPO, prompt, harness: 'claude-code' });

    const record = await finalRecord(stack, taskId);
    expect(record.state, JSON.stringify(record.error)).toBe('succeeded');
    expect(record.turns).toBe(2);
    expect(record.costUsd).toBeGreaterThan(0);
    expect(record.summary).toBe('Added CONTRIBUTING.md.');
    expect(record.branch).toBe(branchName(taskId, prompt));
    const branch = record.branch ?? '';
    expect(await stack.forge.branchCommit(REPO, branch)).toBe(record.commit);
    const { stdout } = await git(['show', `${branch}:CONTRIBUTING.md`], { cwd: stack.forge.path(REPO) });
    expect(stdout).toBe(content);

    expect(fake.userTexts()).toContain(prompt);
    const events: AgentEvent[] = await stack.store.readEvents(taskId, 0, 10_000);
    expect(events.find((e) => e.kind === 'agent.init')).toBeDefined();
    expect(events.some((e) => e.kind === 'agent.tool_call' && e.name === 'Write')).toBe(true);
    expect(events.some((e) => e.kind === 'agent.tool_result' && e.ok)).toBe(true);
    expect(events.find((e) => e.kind === 'agent.result')).toMatchObject({ success: true, turns: 2 });
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'succeeded' });

    const stored = await dumpPrefix(stack.redis, stack.config.redisPrefix);
    expect(stored).toContain(taskId);
    expect(stored).not.toContain(API_KEY);
    for (const r of fake.requests) expect(stored).not.toContain(r.credential);
  });

  it('fails the task with the reason the API gave when the API refuses', async () => {
    stack = await start();
    const reason = 'this API key may not use the requested model';
    fake.failWith({ status: 403, type: 'permission_error', message: reason });
    const prompt = 'add a CONTRIBUTING.md';
    const taskId = await enqueueTask(stack.submit, { repo: REPO, prompt, harness: 'claude-code' });

    const record = await finalRecord(stack, taskId);
    expect(record.state).toBe('failed');
    expect(record.error?.code).toBe('DISPATCH_AGENT_FAILED');
    expect(record.error?.message).toContain(reason);
    expect(await stack.forge.branchCommit(REPO, branchName(taskId, prompt))).toBeUndefined();
    expect(fake.requests.length).toBeGreaterThan(0);
    // the sandbox called with its task's gateway token, never the gateway's own key
    expect(fake.requests.every((r) => GATEWAY_TOKEN.test(r.credential ?? ''))).toBe(true);

    const events = await stack.store.readEvents(taskId, 0, 10_000);
    expect(events.find((e) => e.kind === 'agent.result')).toMatchObject({ success: false });
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'failed' });
    const stored = await dumpPrefix(stack.redis, stack.config.redisPrefix);
    expect(stored).toContain(taskId);
    expect(stored).not.toContain(API_KEY);
    for (const r of fake.requests) expect(stored).not.toContain(r.credential);
  });
});
