import { createLogger, newTaskId, queues, recordSpend, taskRequestSchema, viewerKey, waitingPositions } from '@agentq/shared';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, ALPHA_TOKEN, BETA_TOKEN, VIEWER_SECRET, auth, queueSnapshot, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

let redis: TestRedis;
let fx: IngressFixture;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});
beforeEach(async () => {
  fx = await startIngress(redis.url);
});
afterEach(async () => {
  await fx.close();
});

async function create(body: Record<string, unknown> = taskBody(), headers: Record<string, string> = auth()) {
  return fx.app.inject({ method: 'POST', url: '/v1/tasks', headers, payload: body });
}

describe('POST /v1/tasks', () => {
  it('answers 202 only with the record queued, the relay told and the job in BullMQ under the task id', async () => {
    const res = await create(taskBody({ baseRef: 'main', limits: { maxTurns: 5 }, metadata: { ticket: 'T-1' } }));
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(body).toEqual({
      id: expect.stringMatching(/^[0-9a-z]{26}$/),
      state: 'queued',
      statusUrl: `http://agentq.test/v1/tasks/${body.id}`,
      viewerUrl: `http://agentq.test/tasks/${body.id}?key=${viewerKey(VIEWER_SECRET, body.id)}`,
    });
    expect(res.headers.location).toBe(body.statusUrl);

    const job = await fx.queue.getJob(body.id);
    expect(job?.id).toBe(body.id);
    expect(job?.data).toEqual({ taskId: body.id });
    expect(job?.opts.attempts).toBe(3);
    // every task job has a priority, normal included (see `jobPriority`)
    expect(job?.opts.priority).toBe(2);
    expect(await job?.getState()).toBe('prioritized');

    const record = await fx.store.require(body.id);
    expect(record).toMatchObject({
      id: body.id,
      state: 'queued',
      repo: 'demo/hello',
      prompt: 'add a CONTRIBUTING.md',
      baseRef: 'main',
      limits: { maxTurns: 5 },
      metadata: { ticket: 'T-1' },
      team: 'default',
      source: 'api',
    });
    // hashed only to compare a repeat of an Idempotency-Key with its first request
    expect(record.requestHash).toBeUndefined();
    const relay = (await fx.redis.xrange(fx.keys.relayTasks, '-', '+')) as [string, string[]][];
    expect(relay.map(([, fields]) => fields)).toEqual([['taskId', body.id]]);
    expect(await fx.store.readEvents(body.id)).toMatchObject([{ seq: 1, kind: 'task.state', state: 'queued' }]);
  });

  it('logs an accepted task at debug only: at info, accepting tasks writes no log line', async () => {
    for (const level of ['info', 'debug']) {
      const lines: string[] = [];
      const logged = await startIngress(redis.url, { logger: createLogger({ service: 'ingress', level, destination: { write: (line: string) => void lines.push(line) } }) });
      try {
        const res = await logged.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() });
        expect(res.statusCode).toBe(202);
        const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
        expect(messages).toEqual(level === 'info' ? [] : ['task accepted', 'request']);
      } finally {
        await logged.close();
      }
    }
  });

  it('records the token team on the task', async () => {
    const res = await create(taskBody(), auth(ALPHA_TOKEN));
    expect(res.statusCode).toBe(202);
    expect((await fx.store.require(res.json().id)).team).toBe('alpha');
  });

  it('counts created tasks, requests and the queue depth in the private /metrics, and serves no /metrics publicly', async () => {
    await create();
    expect((await fx.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    const metrics = { body: await fx.metricsText() };
    expect(metrics.body).toMatch(/agentq_tasks_created_total\{team="default",service="ingress"\} 1/);
    expect(metrics.body).toMatch(/agentq_http_requests_total\{method="POST",route="\/v1\/tasks",status="202",service="ingress"\} 1/);
    expect(metrics.body).toContain('agentq_http_request_duration_seconds_bucket');
    expect(metrics.body).toContain('agentq_process_cpu_seconds_total');
    expect(metrics.body).toMatch(/agentq_queue_waiting\{queue="tasks",service="ingress"\} 1\n/);
    expect(metrics.body).toMatch(/agentq_queue_active\{queue="tasks",service="ingress"\} 0\n/);
  });
});

describe('priority', () => {
  it('is stored on the record and decides which queued job a free worker takes first', async () => {
    const ids: Record<string, string> = {};
    // submitted lowest first: BullMQ must still hand them out high, normal, low
    for (const priority of ['low', undefined, 'normal', 'high'] as const) {
      const res = await create(taskBody(priority ? { priority } : {}));
      expect(res.statusCode).toBe(202);
      ids[priority ?? 'absent'] = res.json().id as string;
    }
    expect((await fx.store.require(ids.high as string)).priority).toBe('high');
    expect((await fx.store.require(ids.low as string)).priority).toBe('low');
    expect((await fx.store.require(ids.normal as string)).priority).toBe('normal');
    // absent stays absent on the record (it means normal)
    expect((await fx.store.require(ids.absent as string)).priority).toBeUndefined();
    expect((await fx.queue.getJob(ids.high as string))?.opts.priority).toBe(1);
    expect((await fx.queue.getJob(ids.absent as string))?.opts.priority).toBe(2);
    expect((await fx.queue.getJob(ids.low as string))?.opts.priority).toBe(3);
    expect([...(await waitingPositions(fx.queue)).entries()]).toEqual([
      [ids.high, 1],
      [ids.absent, 2],
      [ids.normal, 3],
      [ids.low, 4],
    ]);

    const worker = new Worker(queues.tasks.name, null, { connection: fx.redis, prefix: fx.keys.bullPrefix, autorun: false });
    try {
      const taken: string[] = [];
      for (let i = 0; i < 4; i++) taken.push(((await worker.getNextJob('test-token')) as Job).id as string);
      expect(taken).toEqual([ids.high, ids.absent, ids.normal, ids.low]);
    } finally {
      await worker.close();
    }
  });

  it('refuses an unknown priority with 400 naming the field, and queues nothing', async () => {
    for (const priority of ['urgent', 'HIGH', 1, null]) {
      const res = await create(taskBody({ priority }));
      expect(res.statusCode, String(priority)).toBe(400);
      const error = res.json().error as { code: string; message: string; details: { fields: { path: string; message: string }[] } };
      expect(error.code).toBe('INGRESS_INVALID_REQUEST');
      expect(error.details.fields.map((f) => f.path)).toEqual(['priority']);
      expect(error.message).toContain('priority');
    }
    expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
  });

  it('shows why a queued task waits in GET /v1/tasks/:id', async () => {
    const { id } = (await create(taskBody({ priority: 'high' }))).json() as { id: string };
    const waiting = { reason: 'team' as const, position: 2, since: new Date().toISOString() };
    await fx.store.update(id, { waiting });
    const res = await fx.app.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: auth() });
    expect(res.json()).toMatchObject({ id, state: 'queued', priority: 'high', waiting });
  });
});

describe('idempotency', () => {
  it('returns the same task for the same key and body, with one job', async () => {
    const headers = { ...auth(), 'idempotency-key': 'delivery-42' };
    const first = await create(taskBody(), headers);
    expect(first.statusCode).toBe(202);
    // same request, keys in another order and with trailing spaces the schema trims
    const second = await create({ prompt: 'add a CONTRIBUTING.md  ', repo: 'demo/hello' }, headers);
    expect(second.statusCode).toBe(200);
    expect(second.headers['idempotent-replayed']).toBe('true');
    expect(second.json()).toEqual(first.json());
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
    expect((await fx.store.require((first.json() as { id: string }).id)).requestHash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('answers 422 INGRESS_IDEMPOTENCY_CONFLICT for the same key with another body, and creates nothing', async () => {
    const headers = { ...auth(), 'idempotency-key': 'delivery-43' };
    expect((await create(taskBody(), headers)).statusCode).toBe(202);
    const conflict = await create(taskBody({ prompt: 'something else' }), headers);
    expect(conflict.statusCode).toBe(422);
    expect(conflict.json().error.code).toBe('INGRESS_IDEMPOTENCY_CONFLICT');
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
  });

  it('scopes keys per team', async () => {
    const a = await create(taskBody(), { ...auth(ALPHA_TOKEN), 'idempotency-key': 'shared-key' });
    const b = await create(taskBody(), { ...auth(BETA_TOKEN), 'idempotency-key': 'shared-key' });
    expect(a.statusCode).toBe(202);
    expect(b.statusCode).toBe(202);
    expect(a.json().id).not.toBe(b.json().id);
  });

  it('creates one task from concurrent deliveries of the same key', async () => {
    const headers = { ...auth(), 'idempotency-key': 'burst' };
    const answers = await Promise.all(Array.from({ length: 8 }, () => create(taskBody(), headers)));
    const accepted = answers.filter((r) => r.statusCode === 202 || r.statusCode === 200);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    for (const r of answers) expect([200, 202, 409]).toContain(r.statusCode);
    expect(answers.filter((r) => r.statusCode === 202)).toHaveLength(1);
    expect(new Set(accepted.map((r) => r.json().id)).size).toBe(1);
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
  });

  it('completes a task whose first attempt wrote the record but died before queueing it', async () => {
    const headers = { ...auth(), 'idempotency-key': 'half-written' };
    const first = await create(taskBody(), headers);
    const id = first.json().id as string;
    // simulate a crash between the record and the job: the job and relay entry are gone, time has passed
    await fx.queue.remove(id);
    await fx.redis.del(fx.keys.relayTasks);
    await fx.redis.hset(fx.keys.task(id), 'createdAt', JSON.stringify(new Date(Date.now() - 60_000).toISOString()));
    const retry = await create(taskBody(), headers);
    expect(retry.statusCode).toBe(202);
    expect(retry.json().id).toBe(id);
    expect((await fx.queue.getJob(id))?.data).toEqual({ taskId: id });
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
  });

  it('refuses an over-long key', async () => {
    const res = await create(taskBody(), { ...auth(), 'idempotency-key': 'k'.repeat(201) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('INGRESS_INVALID_REQUEST');
    expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
  });
});

describe('bad requests change nothing', () => {
  const cases: { name: string; status: number; code: string; send: () => Promise<{ statusCode: number; json(): unknown; headers: Record<string, unknown> }> }[] = [
    {
      name: 'malformed JSON',
      status: 400,
      code: 'INGRESS_MALFORMED_JSON',
      send: () => fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"repo": "demo/hello", ' }),
    },
    { name: 'missing fields', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => create({ repo: 'demo/hello' }) },
    { name: 'unknown fields', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => create(taskBody({ colour: 'blue' })) },
    { name: 'an unknown priority', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => create(taskBody({ priority: 'urgent' })) },
    { name: 'bad repo name', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => create(taskBody({ repo: '../etc' })) },
    { name: 'an array body', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: [1] as unknown as object }) },
    {
      name: 'a prototype-poisoning body',
      status: 400,
      code: 'INGRESS_MALFORMED_JSON',
      send: () => fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"repo":"demo/hello","prompt":"x","__proto__":{"a":1}}' }),
    },
    { name: 'oversized body', status: 413, code: 'INGRESS_BODY_TOO_LARGE', send: () => create(taskBody({ metadata: { pad: 'x'.repeat(900), a: 'x'.repeat(900), b: 'x'.repeat(900), c: 'x'.repeat(900), d: 'x'.repeat(900) } })) },
    { name: 'not JSON', status: 415, code: 'INGRESS_UNSUPPORTED_MEDIA_TYPE', send: () => fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: { ...auth(), 'content-type': 'text/plain' }, payload: 'hello' }) },
    { name: 'unknown repo', status: 422, code: 'INGRESS_UNKNOWN_REPO', send: () => create(taskBody({ repo: 'nobody/nothing' })) },
    { name: 'prompt over the limit', status: 422, code: 'INGRESS_PROMPT_TOO_LONG', send: () => create(taskBody({ prompt: 'p'.repeat(201) })) },
    ...['\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u009b'].map((character) => ({
      name: `a prompt with U+${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
      status: 422,
      code: 'INGRESS_PROMPT_INVALID',
      send: () => create(taskBody({ prompt: `fix${character}it` })),
    })),
    { name: 'a baseRef with a control character', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => create(taskBody({ baseRef: 'main\u0000' })) },
    { name: 'a metadata value with a control character', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => create(taskBody({ metadata: { ticket: 'A-1\u001b[2J' } })) },
    { name: 'a metadata key with a control character', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => create(taskBody({ metadata: { 'a\u0000b': 'x' } })) },
    { name: 'a metadata key constructor', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => create(taskBody({ metadata: { constructor: 'x' } })) },
    { name: 'a metadata key prototype', status: 400, code: 'INGRESS_INVALID_REQUEST', send: () => create(taskBody({ metadata: { prototype: 'x' } })) },
    {
      name: 'a metadata key __proto__',
      status: 400,
      code: 'INGRESS_MALFORMED_JSON',
      send: () => fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"repo":"demo/hello","prompt":"x","metadata":{"__proto__":{"polluted":"yes"}}}' }),
    },
    {
      name: 'a nested constructor.prototype in metadata',
      status: 400,
      code: 'INGRESS_MALFORMED_JSON',
      send: () => fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: { ...auth(), 'content-type': 'application/json' }, payload: '{"repo":"demo/hello","prompt":"x","metadata":{"constructor":{"prototype":{"polluted":"yes"}}}}' }),
    },
    { name: 'a completion callback', status: 422, code: 'INGRESS_NOT_SUPPORTED', send: () => create(taskBody({ callbackUrl: 'http://127.0.0.1:9/done' })) },
    { name: 'bad token', status: 401, code: 'INGRESS_UNAUTHORIZED', send: () => create(taskBody(), auth('aq_not_a_valid_token_000000000')) },
    { name: 'missing token', status: 401, code: 'INGRESS_UNAUTHORIZED', send: () => create(taskBody(), {}) },
    { name: 'another auth scheme', status: 401, code: 'INGRESS_UNAUTHORIZED', send: () => create(taskBody(), { authorization: `Basic ${ADMIN_TOKEN}` }) },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const res = await c.send();
      expect(res.statusCode).toBe(c.status);
      const body = res.json() as { error: { code: string; message: string } };
      expect(body.error.code).toBe(c.code);
      expect(body.error.message.length).toBeGreaterThan(0);
      if (c.status === 401) expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="agentq"/);
      expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
    });
  }

  it('lists every offending field in one 400', async () => {
    const res = await create({ repo: 'not a repo', limits: { maxTurns: 0 }, extra: true });
    expect(res.statusCode).toBe(400);
    const fields = (res.json().error.details.fields as { path: string }[]).map((f) => f.path).sort();
    expect(fields).toEqual(['extra', 'limits.maxTurns', 'prompt', 'repo']);
    expect(res.json().error.message).toContain('extra: unknown field');
  });

  it('names the control character of a refused prompt, and takes tab, line feed and carriage return', async () => {
    const refused = await create(taskBody({ prompt: 'fix\u0000it' }));
    expect(refused.json().error.details).toEqual({ character: 'U+0000' });
    const res = await create(taskBody({ prompt: 'fix\tthe\r\nparser — café', metadata: { ticket: 'A-1', 'note\u00e9': 'ünïcode' } }));
    expect(res.statusCode).toBe(202);
    expect((await fx.store.require(res.json().id)).prompt).toBe('fix\tthe\r\nparser — café');
  });

  it('pollutes nothing with prototype keys in metadata, whichever way they come', async () => {
    for (const body of [
      '{"repo":"demo/hello","prompt":"x","metadata":{"__proto__":{"polluted":"yes"}}}',
      '{"repo":"demo/hello","prompt":"x","metadata":{"constructor":{"prototype":{"polluted":"yes"}}}}',
      '{"repo":"demo/hello","prompt":"x","metadata":{"prototype":"yes","polluted":"yes"}}',
    ]) {
      await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: { ...auth(), 'content-type': 'application/json' }, payload: body });
      // the schema refuses them too, not only the JSON parser
      const parsed = taskRequestSchema.safeParse(JSON.parse(body));
      expect(parsed.success, body).toBe(false);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
  });

  it('counts the prompt limit in characters, not UTF-16 units', async () => {
    expect((await create(taskBody({ prompt: '😀'.repeat(200) }))).statusCode).toBe(202);
  });
});

describe('GET /v1/tasks/:id and GET /v1/tasks', () => {
  it('returns the record, 404 for an unknown id and 400 for a malformed one', async () => {
    const { id } = (await create()).json();
    const res = await fx.app.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id, state: 'queued', repo: 'demo/hello', lastSeq: 1 });
    const missing = await fx.app.inject({ method: 'GET', url: `/v1/tasks/${newTaskId()}`, headers: auth() });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('INGRESS_TASK_NOT_FOUND');
    const bad = await fx.app.inject({ method: 'GET', url: '/v1/tasks/NOT-AN-ID', headers: auth() });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('INGRESS_INVALID_TASK_ID');
    expect((await fx.app.inject({ method: 'GET', url: `/v1/tasks/${id}` })).statusCode).toBe(401);
  });

  it('falls back to the archived record when Redis no longer has it', async () => {
    const { id } = (await create()).json();
    const record = await fx.store.require(id);
    await fx.archive.writeTask({ ...record, state: 'succeeded' });
    await fx.redis.del(fx.keys.task(id));
    const res = await fx.app.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: auth() });
    expect(res.statusCode).toBe(200);
    expect(res.json().state).toBe('succeeded');
  });

  it('lists newest first with limit and filters', async () => {
    await fx.forge.seed('acme/api', { 'README.md': 'x' });
    const ids: string[] = [];
    for (const repo of ['demo/hello', 'acme/api', 'demo/hello', 'acme/api']) {
      ids.push((await create(taskBody({ repo }))).json().id);
    }
    await fx.store.transition(ids[0] as string, 'canceled');
    const list = async (query: string) => {
      const res = await fx.app.inject({ method: 'GET', url: `/v1/tasks${query}`, headers: auth() });
      expect(res.statusCode).toBe(200);
      return (res.json().tasks as { id: string }[]).map((t) => t.id);
    };
    expect(await list('')).toEqual([...ids].reverse());
    expect(await list('?limit=2')).toEqual([ids[3], ids[2]]);
    expect(await list('?repo=acme/api')).toEqual([ids[3], ids[1]]);
    expect(await list('?state=canceled')).toEqual([ids[0]]);
    expect(await list('?state=queued&repo=demo/hello')).toEqual([ids[2]]);
    expect(await list('?limit=5000')).toHaveLength(4);
    for (const bad of ['?limit=0', '?limit=abc', '?state=done', '?repo=..']) {
      const res = await fx.app.inject({ method: 'GET', url: `/v1/tasks${bad}`, headers: auth() });
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().error.code).toBe('INGRESS_INVALID_REQUEST');
    }
  });

  it('lists each task with its viewer link, and what the gateway metered for one not yet ended', async () => {
    const running = (await create(taskBody())).json() as { id: string; viewerUrl: string };
    const ended = (await create(taskBody())).json() as { id: string; viewerUrl: string };
    await fx.store.transition(running.id, 'starting');
    await fx.store.transition(running.id, 'running');
    await fx.store.transition(ended.id, 'canceled');
    for (const id of [running.id, ended.id]) await recordSpend(fx.redis, fx.keys, { taskId: id, team: 'default', usd: 0.25, at: new Date() });
    const res = await fx.app.inject({ method: 'GET', url: '/v1/tasks', headers: auth() });
    const tasks = res.json().tasks as { id: string; viewerUrl: string; spentUsd?: number }[];
    expect(tasks.map((t) => [t.id, t.viewerUrl, t.spentUsd])).toEqual([
      [ended.id, ended.viewerUrl, undefined],
      [running.id, running.viewerUrl, 0.25],
    ]);
    expect(running.viewerUrl).toBe(`http://agentq.test/tasks/${running.id}?key=${viewerKey(VIEWER_SECRET, running.id)}`);
  });

  it('returns the trigger of an automatic follow-up in the record, the list and the archived record', async () => {
    const id = newTaskId();
    const trigger = {
      kind: 'ci_failure' as const,
      pullNumber: 12,
      headSha: 'c'.repeat(40),
      url: 'https://github.com/demo/hello/runs/7',
      checks: [{ name: 'build', conclusion: 'failure', url: 'https://github.com/demo/hello/runs/7' }],
      attempt: 2,
    };
    await fx.store.create({ id, repo: 'demo/hello', prompt: 'fix the checks', team: 'default', source: 'github', github: { issueNumber: 12, isPullRequest: true }, trigger });
    const one = await fx.app.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: auth() });
    expect(one.json().trigger).toEqual(trigger);
    const listed = (await fx.app.inject({ method: 'GET', url: '/v1/tasks', headers: auth() })).json().tasks as { id: string; trigger?: unknown }[];
    expect(listed.find((t) => t.id === id)?.trigger).toEqual(trigger);
    await fx.archive.writeTask({ ...(await fx.store.require(id)), state: 'canceled' });
    await fx.redis.del(fx.keys.task(id));
    expect((await fx.app.inject({ method: 'GET', url: `/v1/tasks/${id}`, headers: auth() })).json().trigger).toEqual(trigger);
  });

  it('shows a team token only its own team’s tasks; the default team sees all', async () => {
    const alpha = (await create(taskBody(), auth(ALPHA_TOKEN))).json().id as string;
    const beta = (await create(taskBody(), auth(BETA_TOKEN))).json().id as string;
    const ids = async (token: string) =>
      ((await fx.app.inject({ method: 'GET', url: '/v1/tasks', headers: auth(token) })).json().tasks as { id: string }[]).map((t) => t.id);
    expect(await ids(ALPHA_TOKEN)).toEqual([alpha]);
    expect(await ids(BETA_TOKEN)).toEqual([beta]);
    expect(await ids(ADMIN_TOKEN)).toEqual([beta, alpha]);
    const other = await fx.app.inject({ method: 'GET', url: `/v1/tasks/${beta}`, headers: auth(ALPHA_TOKEN) });
    expect(other.statusCode).toBe(404);
    const cancel = await fx.app.inject({ method: 'POST', url: `/v1/tasks/${beta}/cancel`, headers: auth(ALPHA_TOKEN) });
    expect(cancel.statusCode).toBe(404);
    expect((await fx.store.require(beta)).state).toBe('queued');
    expect((await fx.app.inject({ method: 'GET', url: `/v1/tasks/${beta}`, headers: auth(ADMIN_TOKEN) })).statusCode).toBe(200);
  });
});

describe('POST /v1/tasks/:id/cancel', () => {
  it('cancels a queued task at once and removes its job', async () => {
    const { id } = (await create()).json();
    const res = await fx.app.inject({ method: 'POST', url: `/v1/tasks/${id}/cancel`, headers: auth() });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ id, state: 'canceled' });
    expect((await fx.store.require(id)).state).toBe('canceled');
    expect(await fx.queue.getJob(id)).toBeUndefined();
    const events = await fx.store.readEvents(id);
    expect(events[events.length - 1]).toMatchObject({ kind: 'task.state', state: 'canceled', from: 'queued' });
  });

  it('flags a running task and announces it on the cancel channel', async () => {
    const { id } = (await create()).json();
    await fx.store.transition(id, 'starting');
    await fx.store.transition(id, 'running');
    const subscriber = new Redis(redis.url);
    const heard: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => heard.push(message));
    await subscriber.subscribe(fx.keys.cancelChannel);
    try {
      const res = await fx.app.inject({
        method: 'POST',
        url: `/v1/tasks/${id}/cancel`,
        headers: { ...auth(), 'content-type': 'application/json' },
      });
      expect(res.statusCode).toBe(202);
      expect(res.json()).toEqual({ id, state: 'running', cancelRequested: true });
      const record = await fx.store.require(id);
      expect(record).toMatchObject({ state: 'running', cancelRequested: true });
      await expect.poll(() => heard).toEqual([id]);
      const events = await fx.store.readEvents(id);
      expect(events[events.length - 1]).toMatchObject({ kind: 'log', stream: 'system', text: 'cancel requested' });
    } finally {
      subscriber.disconnect();
    }
  });

  it('answers 409 INGRESS_TASK_FINAL for a finished task', async () => {
    const { id } = (await create()).json();
    await fx.store.transition(id, 'failed', { error: { code: 'X', message: 'x' } });
    const res = await fx.app.inject({ method: 'POST', url: `/v1/tasks/${id}/cancel`, headers: auth() });
    expect(res.statusCode).toBe(409);
    expect(res.json().error.code).toBe('INGRESS_TASK_FINAL');
    expect((await fx.store.require(id)).state).toBe('failed');
  });

  it('answers 404 for an unknown task', async () => {
    const res = await fx.app.inject({ method: 'POST', url: `/v1/tasks/${newTaskId()}/cancel`, headers: auth() });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('INGRESS_TASK_NOT_FOUND');
  });
});

describe('ops endpoints', () => {
  it('answers /healthz and /readyz, and an unknown route with a JSON 404', async () => {
    expect((await fx.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await fx.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ ok: true });
    const res = await fx.app.inject({ method: 'GET', url: '/v2/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('INGRESS_NOT_FOUND');
  });

  it('is not ready and takes no tasks while shutting down', async () => {
    let stopping = false;
    const local = await startIngress(redis.url, { isShuttingDown: () => stopping });
    try {
      stopping = true;
      const ready = await local.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      const res = await local.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() });
      expect(res.statusCode).toBe(503);
      expect(res.json().error.code).toBe('INGRESS_UNAVAILABLE');
      expect(res.headers['retry-after']).toBeDefined();
      expect(await queueSnapshot(local)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
    } finally {
      await local.close();
    }
  });
});
