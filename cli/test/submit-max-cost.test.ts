import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApi } from './support/fake-api.js';
import { runInProcess } from './support/run-cli.js';

let api: FakeApi;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  api = new FakeApi();
  await api.start();
  env = { AGENTQ_URL: api.url, AGENTQ_TOKEN: api.token };
});
afterAll(() => api.close());

describe('agentq submit --max-cost', () => {
  it('sends the spending limit as limits.maxCostUsd', async () => {
    const run = await runInProcess(['submit', 'demo/hello', 'fix it', '--max-cost', '2.50', '--max-turns', '3'], { env });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(api.requestsTo('POST', '/v1/tasks').at(-1)?.body).toEqual({
      repo: 'demo/hello',
      prompt: 'fix it',
      limits: { maxTurns: 3, maxCostUsd: 2.5 },
    });
  });

  it.each(['0', '-1', 'lots', '10001'])('rejects --max-cost %s with exit code 2, sending nothing', async (value) => {
    const before = api.requestsTo('POST', '/v1/tasks').length;
    const run = await runInProcess(['submit', 'demo/hello', 'x', '--max-cost', value], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('must be an amount in USD');
    expect(api.requestsTo('POST', '/v1/tasks')).toHaveLength(before);
  });
});
