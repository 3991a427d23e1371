import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskStore, createRedactor, newTaskId, redisKeys, type NewTask } from '../src/index.js';
import { startTestRedis, uniquePrefix, type TestRedis } from '../src/testing/index.js';

let redis: TestRedis;
let client: Redis;

beforeAll(async () => {
  redis = await startTestRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client.disconnect();
  await redis.stop();
});

function newTask(): NewTask {
  return { id: newTaskId(), repo: 'demo/hello', prompt: 'do it', team: 'default', source: 'api' };
}

describe('TaskStore', () => {
  it('creates a queued task once, with its first event at seq 1', async () => {
    const store = new TaskStore(client, redisKeys(uniquePrefix()));
    const task = newTask();
    expect(await store.create(task)).toBe(true);
    expect(await store.create(task)).toBe(false);
    const record = await store.require(task.id);
    expect(record.state).toBe('queued');
    expect(record.lastSeq).toBe(1);
    const events = await store.readEvents(task.id);
    expect(events).toMatchObject([{ seq: 1, kind: 'task.state', state: 'queued', taskId: task.id, v: 1 }]);
  });

  it('writes the record, its first event, its index entry and a relay task list entry in one step', async () => {
    const store = new TaskStore(client, redisKeys(uniquePrefix()));
    const prompt = 'café 🚀 "quoted" back\\slash\nnew line, lone \ud800 surrogate, nul \u0000';
    const task: NewTask = { ...newTask(), prompt, metadata: { ticket: 'T-1 "é"' }, limits: { maxTurns: 3 } };
    const entry = await store.createAndAnnounce(task);
    expect(entry).toMatch(/^\d+-\d+$/);
    expect(await client.xrange(store.keys.relayTasks, '-', '+')).toEqual([[entry, ['taskId', task.id]]]);
    expect(await client.zrange(store.keys.taskIndex, '0', '-1')).toEqual([task.id]);
    const record = await store.require(task.id);
    expect(record).toMatchObject({ state: 'queued', prompt, metadata: task.metadata, limits: task.limits, lastSeq: 1 });
    expect(await store.readEvents(task.id)).toMatchObject([{ seq: 1, kind: 'task.state', state: 'queued', taskId: task.id }]);
    // an id that exists: nothing is written, nothing announced
    expect(await store.createAndAnnounce({ ...task, prompt: 'another' })).toBeUndefined();
    expect(await client.xlen(store.keys.relayTasks)).toBe(1);
    expect((await store.require(task.id)).prompt).toBe(prompt);
    expect(await client.xlen(store.keys.events(task.id))).toBe(1);
  });

  it('allows only legal transitions and numbers events contiguously across writers', async () => {
    const store = new TaskStore(client, redisKeys(uniquePrefix()));
    const task = newTask();
    await store.create(task);
    expect(await store.transition(task.id, 'succeeded')).toEqual({ ok: false, current: 'queued' });
    expect(await store.transition(task.id, 'starting', { sandboxId: 'sb1' })).toEqual({ ok: true, seq: 2, from: 'queued' });
    await Promise.all([
      store.append(task.id, [{ kind: 'agent.message', text: 'a' }, { kind: 'agent.message', text: 'b' }]),
      store.append(task.id, [{ kind: 'log', stream: 'output', text: 'c' }]),
    ]);
    expect(await store.transition(task.id, 'canceled')).toMatchObject({ ok: true, seq: 6, from: 'starting' });
    expect(await store.transition(task.id, 'succeeded')).toEqual({ ok: false, current: 'canceled' });
    expect(await store.append(task.id, [{ kind: 'agent.message', text: 'late' }])).toBeUndefined();
    const events = await store.readEvents(task.id);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(events[5]).toMatchObject({ kind: 'task.state', state: 'canceled', from: 'starting' });
    const record = await store.require(task.id);
    expect(record).toMatchObject({ state: 'canceled', sandboxId: 'sb1', lastSeq: 6 });
    expect(record.finishedAt).toBeDefined();
    expect(await store.readEvents(task.id, 4)).toHaveLength(2);
  });

  it('redacts secrets in records and events before they are written', async () => {
    const store = new TaskStore(client, redisKeys(uniquePrefix()), { redact: (s) => s.replaceAll('s3cr3t-value', '[REDACTED]') });
    const task = { ...newTask(), prompt: 'use s3cr3t-value' };
    await store.create(task);
    await store.append(task.id, [{ kind: 'agent.message', text: 'key is s3cr3t-value' }]);
    await store.update(task.id, { summary: 'printed s3cr3t-value' });
    const dump = JSON.stringify(await client.xrange(store.keys.events(task.id), '-', '+')) + JSON.stringify(await client.hgetall(store.keys.task(task.id)));
    expect(dump).not.toContain('s3cr3t-value');
    expect(dump).toContain('[REDACTED]');
  });

  it('with the services\' redactor, no form of a secret reaches Redis', async () => {
    const secret = 'sk-live-Q2x9+Rt/7vWm4Kp0';
    const keys = redisKeys(uniquePrefix());
    const store = new TaskStore(client, keys, { redact: createRedactor([secret]) });
    const b64 = (text: string) => Buffer.from(text).toString('base64');
    const hex = Buffer.from(secret).toString('hex');
    const task = { ...newTask(), prompt: `use ${secret} and Basic ${b64(`me:${secret}`)}` };
    await store.create(task);
    await store.append(task.id, [
      { kind: 'agent.message', text: `hex ${hex} HEX ${hex.toUpperCase()}` },
      { kind: 'log', stream: 'output', text: `x ${b64(`x${secret}`)} xy ${Buffer.from(`xy${secret}`).toString('base64url')}` },
      { kind: 'log', stream: 'output', text: `cut ${secret.slice(0, 10)}\n${secret.slice(10)}` },
    ]);
    await store.update(task.id, { summary: `printed ${encodeURIComponent(secret)}`, error: { code: 'X', message: JSON.stringify({ secret }) } });
    let dump = '';
    for (const key of await client.keys(`${keys.prefix}*`)) {
      const type = await client.type(key);
      if (type === 'hash') dump += JSON.stringify(await client.hgetall(key));
      else if (type === 'stream') dump += JSON.stringify(await client.xrange(key, '-', '+'));
      else if (type === 'zset') dump += JSON.stringify(await client.zrange(key, '0', '-1'));
    }
    expect(dump).toContain('[REDACTED]');
    const leaks = [secret.slice(0, 10), secret.slice(10), hex.slice(0, 8), hex.toUpperCase().slice(0, 8), b64(secret).slice(0, 8), b64(`me:${secret}`).slice(4, 12), b64(`x${secret}`).slice(4, 12)];
    for (const leak of leaks) expect(dump, leak).not.toContain(leak);
  });

  it('lists newest first with filters', async () => {
    const store = new TaskStore(client, redisKeys(uniquePrefix()));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const task = { ...newTask(), repo: i % 2 === 0 ? 'a/b' : 'c/d', createdAt: new Date(Date.now() + i * 1000).toISOString() };
      ids.push(task.id);
      await store.create(task);
    }
    const all = await store.list({ limit: 10 });
    expect(all.map((t) => t.id)).toEqual([...ids].reverse());
    expect((await store.list({ limit: 2 })).map((t) => t.id)).toEqual([ids[4], ids[3]]);
    expect((await store.list({ limit: 10, repo: 'c/d' })).map((t) => t.id)).toEqual([ids[3], ids[1]]);
  });

  it('finds the last output line written, past any number of events without one', async () => {
    const store = new TaskStore(client, redisKeys(uniquePrefix()));
    const task = newTask();
    expect(await store.lastWrittenLine(task.id)).toBe(0); // no stream at all
    await store.create(task);
    expect(await store.lastWrittenLine(task.id)).toBe(0); // only the state event
    await store.append(task.id, [
      { kind: 'log', stream: 'output', text: 'one', line: 1 },
      { kind: 'agent.message', text: 'two', line: 2 },
      { kind: 'agent.message', text: 'still two', line: 2 },
    ]);
    expect(await store.lastWrittenLine(task.id)).toBe(2);
    // the dispatcher's own notes carry no line; more of them than one page of the backwards scan
    const notes = Array.from({ length: 450 }, (_, i) => ({ kind: 'log' as const, stream: 'system' as const, text: `note ${i}` }));
    await store.append(task.id, notes);
    expect(await store.lastWrittenLine(task.id)).toBe(2);
    await store.append(task.id, [{ kind: 'log', stream: 'output', text: 'seven', line: 7 }, ...notes.slice(0, 3)]);
    expect(await store.lastWrittenLine(task.id)).toBe(7);
  });

  it('removes optional fields, and creates no record for an unknown task', async () => {
    const store = new TaskStore(client, redisKeys(uniquePrefix()));
    const task = newTask();
    await store.create(task);
    await store.update(task.id, { waiting: { reason: 'global', position: 2, since: '2026-01-01T00:00:00.000Z' }, summary: 'kept' });
    expect((await store.require(task.id)).waiting).toMatchObject({ reason: 'global', position: 2 });
    expect(await store.unset(task.id, ['waiting'])).toBe(true);
    const record = await store.require(task.id);
    expect(record.waiting).toBeUndefined();
    expect(record).toMatchObject({ state: 'queued', summary: 'kept' });
    const unknown = newTaskId();
    expect(await store.unset(unknown, ['waiting'])).toBe(false);
    expect(await store.get(unknown)).toBeUndefined();
  });

  it('binds an idempotency key to the first task id', async () => {
    const store = new TaskStore(client, redisKeys(uniquePrefix()));
    expect(await store.claimIdempotencyKey('default', 'k1', 'first', 60)).toBeUndefined();
    expect(await store.claimIdempotencyKey('default', 'k1', 'second', 60)).toBe('first');
    expect(await store.claimIdempotencyKey('other', 'k1', 'third', 60)).toBeUndefined();
  });
});
