import { ConfigError, addTeamCost, loadConfig, secondsUntilUtcMidnight } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REPO, deliver, freshNumber, issueComment, startGitHubIngress } from './github-fixture.js';
import { ALPHA_TOKEN, auth, queueSnapshot, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

let redis: TestRedis;
let fx: IngressFixture;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});
beforeEach(async () => {
  fx = await startIngress(redis.url, { env: { AGENTQ_TEAM_DAILY_USD: 'default:0.01, platform:200' } });
});
afterEach(async () => {
  await fx.close();
});

const create = (body = taskBody(), headers = auth()) => fx.app.inject({ method: 'POST', url: '/v1/tasks', headers, payload: body });
const DAY_MS = 24 * 3600 * 1000;

describe('team daily spending cap', () => {
  it('refuses a task of a team whose spending today reached its cap with 429 until UTC midnight, queueing nothing', async () => {
    await addTeamCost(fx.redis, fx.keys, 'default', 0.012, new Date());
    const res = await create();
    expect(res.statusCode).toBe(429);
    const error = res.json().error as { code: string; message: string; details: Record<string, unknown> };
    expect(error.code).toBe('INGRESS_BUDGET_EXHAUSTED');
    expect(error.message).toContain('team default');
    expect(error.message).toContain('$0.01');
    expect(error.details).toMatchObject({ team: 'default', capUsd: 0.01, spentUsd: 0.012 });
    const retryAfter = Number(res.headers['retry-after']);
    expect(Math.abs(retryAfter - secondsUntilUtcMidnight(new Date()))).toBeLessThanOrEqual(2);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(24 * 3600);
    expect(await queueSnapshot(fx)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
  });

  it('admits a task while the spending is below the cap, and for teams without a cap', async () => {
    await addTeamCost(fx.redis, fx.keys, 'default', 0.009, new Date());
    expect((await create()).statusCode).toBe(202);
    await addTeamCost(fx.redis, fx.keys, 'alpha', 1000, new Date());
    expect((await create(taskBody(), auth(ALPHA_TOKEN))).statusCode).toBe(202);
    expect(await queueSnapshot(fx)).toEqual({ jobs: 2, indexed: 2, relay: 2 });
  });

  it('counts only today (UTC): yesterday\'s spending does not refuse', async () => {
    await addTeamCost(fx.redis, fx.keys, 'default', 5, new Date(Date.now() - DAY_MS));
    expect((await create()).statusCode).toBe(202);
  });

  it('accepts and records a per-task spending limit', async () => {
    const res = await create(taskBody({ limits: { maxCostUsd: 2.5 } }));
    expect(res.statusCode).toBe(202);
    expect((await fx.store.require(res.json().id)).limits).toEqual({ maxCostUsd: 2.5 });
  });
});

describe('team daily spending cap on GitHub', () => {
  it('answers an /agent comment of a team over its cap with a reply and queues nothing', async () => {
    const gh = await startGitHubIngress(redis.url, { AGENTQ_TEAM_DAILY_USD: 'default:1' });
    try {
      await addTeamCost(gh.redis, gh.keys, 'default', 1, new Date());
      const issue = freshNumber();
      const res = await deliver(gh, 'issue_comment', issueComment(issue, '/agent fix the parser'));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ ignored: 'INGRESS_BUDGET_EXHAUSTED' });
      const replies = gh.fake.comments.filter((c) => c.repo === REPO && c.issueNumber === issue);
      expect(replies).toHaveLength(1);
      expect(replies[0]?.body).toContain('daily cap of $1.00');
      expect(await queueSnapshot(gh)).toEqual({ jobs: 0, indexed: 0, relay: 0 });
    } finally {
      await gh.close();
    }
  });
});

describe('AGENTQ_TEAM_DAILY_USD', () => {
  const base = { REDIS_URL: 'redis://127.0.0.1:6379' };
  it('reads team:usd entries; unset means no caps', () => {
    expect(loadConfig({ ...base, AGENTQ_TEAM_DAILY_USD: 'default:50,platform:200.5' }).teamDailyUsd).toEqual({ default: 50, 'platform': 200.5 });
    expect(loadConfig(base).teamDailyUsd).toEqual({});
  });
  it('refuses entries that are not team:usd', () => {
    for (const bad of ['default', 'default:-1', 'default:abc', ':5', 'a:b:5']) {
      expect(() => loadConfig({ ...base, AGENTQ_TEAM_DAILY_USD: bad }), bad).toThrow(ConfigError);
    }
  });
});
