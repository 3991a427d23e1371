import { viewerKey } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VIEWER_SECRET, queueSnapshot, startIngress } from './ingress-fixture.js';
import {
  CHANNEL,
  SIGNING_SECRET,
  TEAM,
  USER,
  ackText,
  allTasks,
  slashCommand,
  startSlackIngress,
  taskIdIn,
  triggerId,
  type SlackFixture,
} from './slack-fixture.js';

let redis: TestRedis;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function slack(options: Parameters<typeof startSlackIngress>[1] = {}): Promise<SlackFixture> {
  const fx = await startSlackIngress(redis.url, options);
  cleanups.push(() => fx.close());
  return fx;
}

const NOTHING = { jobs: 0, indexed: 0, relay: 0 };

describe('the slash command', () => {
  it('acknowledges within 3 s, after the job is queued, with the task id and viewer link', async () => {
    const fx = await slack();
    const started = Date.now();
    const res = await slashCommand(fx, 'demo/hello add a CONTRIBUTING.md');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res.statusCode).toBe(200);
    const text = ackText(res);
    const id = taskIdIn(text);
    expect(text).toContain(`http://agentq.test/tasks/${id}?key=${viewerKey(VIEWER_SECRET, id)}`);

    const record = await fx.store.require(id);
    expect(record).toMatchObject({
      state: 'queued',
      repo: 'demo/hello',
      prompt: 'add a CONTRIBUTING.md',
      source: 'slack',
      team: 'default',
      slack: { teamId: TEAM, channel: CHANNEL, userId: USER },
    });
    expect(record.slack?.threadTs).toBeUndefined();
    const job = await fx.queue.getJob(id);
    expect(job?.data).toEqual({ taskId: id });
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
    // the relay posts the task's messages; the ingress only answered the command
    expect(fx.fake.calls.filter((c) => c.method.startsWith('chat.'))).toEqual([]);
  });

  it('reads options after the repository or at the end, in both spellings', async () => {
    const fx = await slack();
    const res = await slashCommand(fx, 'demo/hello --harness=demo add a file\nwith two lines --model claude-test-1 --max-turns 7');
    const record = await fx.store.require(taskIdIn(ackText(res)));
    expect(record).toMatchObject({ harness: 'demo', model: 'claude-test-1', limits: { maxTurns: 7 }, prompt: 'add a file\nwith two lines' });
  });

  it('takes a priority, and gives the job that BullMQ priority', async () => {
    const fx = await slack();
    const high = await fx.store.require(taskIdIn(ackText(await slashCommand(fx, 'demo/hello --priority high fix the login test'))));
    expect(high).toMatchObject({ priority: 'high', prompt: 'fix the login test' });
    expect((await fx.queue.getJob(high.id))?.opts.priority).toBe(1);
    const low = await fx.store.require(taskIdIn(ackText(await slashCommand(fx, 'demo/hello tidy the README --priority=low'))));
    expect(low).toMatchObject({ priority: 'low', prompt: 'tidy the README' });
    expect((await fx.queue.getJob(low.id))?.opts.priority).toBe(3);
  });

  it('refuses bad or stale signatures with 401 and queues nothing', async () => {
    const fx = await slack();
    const wrong = await slashCommand(fx, 'demo/hello do it', {}, { secret: 'not-the-signing-secret' });
    expect(wrong.statusCode).toBe(401);
    const stale = await slashCommand(fx, 'demo/hello do it', {}, { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(stale.statusCode).toBe(401);
    const future = await slashCommand(fx, 'demo/hello do it', {}, { timestamp: Math.floor(Date.now() / 1000) + 6 * 60 });
    expect(future.statusCode).toBe(401);
    const unsigned = await fx.app.inject({
      method: 'POST',
      url: '/slack/events',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'command=%2Fagent&text=demo%2Fhello+do+it',
    });
    expect(unsigned.statusCode).toBe(401);
    expect(await queueSnapshot(fx)).toEqual(NOTHING);
    expect(JSON.stringify([wrong.body, stale.body])).not.toContain(SIGNING_SECRET);
  });

  it('gives a redelivered command (same trigger_id) the same task, with one job', async () => {
    const fx = await slack();
    const trigger = triggerId();
    const first = await slashCommand(fx, 'demo/hello add a CONTRIBUTING.md', { trigger_id: trigger });
    const again = await slashCommand(fx, 'demo/hello add a CONTRIBUTING.md', { trigger_id: trigger }, { retryNum: 1 });
    expect(again.statusCode).toBe(200);
    expect(taskIdIn(ackText(again))).toBe(taskIdIn(ackText(first)));
    expect(ackText(again)).toContain('already queued');
    expect(await queueSnapshot(fx)).toEqual({ jobs: 1, indexed: 1, relay: 1 });
  });

  it('answers bad input ephemerally and queues nothing', async () => {
    const fx = await slack();
    const cases: [string, RegExp][] = [
      ['nobody/nothing fix it', /not a repository agentq knows/],
      ['demo/hello', /prompt is empty/],
      ['demo/hello   --max-turns=3', /prompt is empty/],
      ['demo/hello fix it --max-turns=lots', /--max-turns must be a whole number/],
      ['demo/hello fix it --harness=gpt', /--harness must be one of/],
      ['demo/hello fix it --colour=blue', /unknown option --colour/],
      ['demo/hello fix it --model', /--model needs a value/],
      ['demo/hello --priority urgent fix it', /--priority must be one of low, normal, high/],
      ['demo/hello fix it --priority=HIGH', /--priority must be one of low, normal, high/],
      ['demo/hello fix it --priority', /--priority needs a value/],
      ['demo/hello --priority=high fix it --priority=low', /--priority is given twice/],
      ['fix everything', /fix is not a repository/],
      ['demo/hello ' + 'x'.repeat(250), /limit is 200/],
    ];
    for (const [text, expected] of cases) {
      const res = await slashCommand(fx, text);
      expect(res.statusCode, text).toBe(200);
      expect(ackText(res), text).toMatch(expected);
    }
    expect(await queueSnapshot(fx)).toEqual(NOTHING);
  });

  it('keeps --flags in the middle of a prompt as prompt text', async () => {
    const fx = await slack();
    const res = await slashCommand(fx, 'demo/hello add a --verbose flag to the CLI');
    expect((await fx.store.require(taskIdIn(ackText(res)))).prompt).toBe('add a --verbose flag to the CLI');
  });

  it('answers help, status, list and cancel', async () => {
    const fx = await slack();
    expect(ackText(await slashCommand(fx, 'help'))).toContain('/agent owner/repo what to do');
    expect(ackText(await slashCommand(fx, ''))).toContain('/agent status');
    expect(ackText(await slashCommand(fx, 'status'))).toContain('no tasks yet');

    const mine = taskIdIn(ackText(await slashCommand(fx, 'demo/hello first task')));
    const other = taskIdIn(ackText(await slashCommand(fx, 'demo/hello second task', { user_id: 'U0BOB', channel_id: 'C0OTHER' })));

    const status = ackText(await slashCommand(fx, 'status'));
    expect(status).toContain(mine);
    expect(status).not.toContain(other);
    const one = ackText(await slashCommand(fx, `status ${other}`));
    expect(one).toContain(other);
    expect(one).toContain('*queued*');
    expect(one).toContain('second task');
    expect(one).not.toContain('waiting');
    // a task that waits says why
    await fx.store.update(other, { waiting: { reason: 'repo', position: 3, since: new Date().toISOString() } });
    expect(ackText(await slashCommand(fx, `status ${other}`))).toContain(':hourglass: waiting: repository limit reached (position 3)');

    const channel = ackText(await slashCommand(fx, 'list'));
    expect(channel).toContain(mine);
    expect(channel).not.toContain(other);
    const workspace = ackText(await slashCommand(fx, 'list all'));
    expect(workspace).toContain(mine);
    expect(workspace).toContain(other);

    expect(ackText(await slashCommand(fx, `cancel ${other}`))).toMatch(/only the person who asked/);
    expect((await fx.store.require(other)).state).toBe('queued');
    expect(ackText(await slashCommand(fx, `cancel ${mine}`))).toContain(`Canceled \`${mine}\``);
    expect((await fx.store.require(mine)).state).toBe('canceled');
    expect(ackText(await slashCommand(fx, `cancel ${mine}`))).toMatch(/already ended \(canceled\)/);
    expect(ackText(await slashCommand(fx, 'cancel 01234567890123456789abcdef'))).toMatch(/not found/);
    expect(ackText(await slashCommand(fx, 'cancel'))).toMatch(/cancel followed by a task id/);
    // a task of another workspace is not visible
    expect(ackText(await slashCommand(fx, `status ${mine}`, { team_id: 'T0ELSE' }))).toMatch(/not found/);
  });

  it('does not show API tasks to Slack', async () => {
    const fx = await slack();
    const res = await fx.app.inject({
      method: 'POST',
      url: '/v1/tasks',
      headers: { authorization: 'Bearer aq_test_default_token_0123456789' },
      payload: { repo: 'demo/hello', prompt: 'from the API' },
    });
    const id = (res.json() as { id: string }).id;
    expect(ackText(await slashCommand(fx, `status ${id}`))).toMatch(/not found/);
    expect(ackText(await slashCommand(fx, 'list all'))).toContain('No tasks');
  });
});

describe('the Slack policy', () => {
  const policy = `
admins: [U0ADMIN]
rules:
  - channels: [C0PLATFORM]
    users: ["*"]
    repos: ["demo/*"]
    team: platform
  - channels: ["*"]
    users: [U0ALICE]
    repos: [demo/hello]
`;

  it('refuses repositories a channel or user may not target, and maps channels to teams', async () => {
    const fx = await slack({ policy });
    const refused = await slashCommand(fx, 'demo/hello fix it', { user_id: 'U0BOB' });
    expect(ackText(refused)).toMatch(/may not queue tasks on `demo\/hello`/);
    expect(await queueSnapshot(fx)).toEqual(NOTHING);

    const platform = taskIdIn(ackText(await slashCommand(fx, 'demo/hello fix it', { user_id: 'U0BOB', channel_id: 'C0PLATFORM' })));
    expect(await fx.store.require(platform)).toMatchObject({ team: 'platform', slack: { channel: 'C0PLATFORM', userId: 'U0BOB' } });
    const alice = taskIdIn(ackText(await slashCommand(fx, 'demo/hello fix it too')));
    expect((await fx.store.require(alice)).team).toBe('default');
    expect(await allTasks(fx)).toHaveLength(2);
  });

  it('stops the ingress from starting with an invalid policy file, naming the problems', async () => {
    const bad = 'admins: ["*"]\nrules:\n  - channels: []\n    repos: ["not a repo"]\n    colour: blue\n';
    await expect(startSlackIngress(redis.url, { policy: bad })).rejects.toThrow(
      /admins\[0\]: must be a Slack user id[\s\S]*rules\[0\]\.channels: must list at least one id[\s\S]*rules\[0\]\.repos\[0\]/,
    );
  });
});

describe('Slack routes', () => {
  it('answers the url_verification challenge', async () => {
    const fx = await slack();
    const body = JSON.stringify({ token: 'x', challenge: 'challenge-abc', type: 'url_verification' });
    const { slackSignatureHeaders } = await import('@agentq/shared/testing');
    const res = await fx.app.inject({
      method: 'POST',
      url: '/slack/events',
      headers: { 'content-type': 'application/json', ...slackSignatureHeaders(SIGNING_SECRET, body) },
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ challenge: 'challenge-abc' });
  });

  it("answer Slack's ssl_check without queueing anything", async () => {
    const fx = await slack();
    const res = await fx.app.inject({
      method: 'POST',
      url: '/slack/events',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'ssl_check=1&token=deprecated-verification-token',
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
    expect(await queueSnapshot(fx)).toEqual(NOTHING);
  });

  it('are not there without Slack configuration', async () => {
    const fx = await startIngress(redis.url);
    cleanups.push(() => fx.close());
    for (const url of ['/slack/events', '/slack/install']) {
      const res = await fx.app.inject({ method: url === '/slack/events' ? 'POST' : 'GET', url });
      expect(res.statusCode, url).toBe(404);
    }
  });
});
