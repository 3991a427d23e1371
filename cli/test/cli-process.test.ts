import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { API_TOKEN_FILE } from '@agentq/shared';
import { freePort, makeTempDir } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApi } from './support/fake-api.js';
import { runProcess } from './support/run-cli.js';
import { failedScript, succeededScript } from './support/scripts.js';

let api: FakeApi;
let dataDir: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  api = new FakeApi();
  await api.start();
  dataDir = await makeTempDir('agentq-cli-');
  await writeFile(join(dataDir.path, API_TOKEN_FILE), `${api.token}\n`);
});
afterAll(async () => {
  await api.close();
  await dataDir.remove();
});

describe('node cli/bin/agentq.mjs', () => {
  it('submits with the token file and follows a task to success (exit 0)', async () => {
    const script = succeededScript();
    script.dropAfterSeq = 5;
    api.scripts.push(script);
    const run = await runProcess(['submit', 'demo/hello', 'add a CONTRIBUTING.md', '--follow'], {
      env: { AGENTQ_URL: api.url, AGENTQ_DATA_DIR: dataDir.path },
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(api.requestsTo('POST', '/v1/tasks').at(-1)?.headers.authorization).toBe(`Bearer ${api.token}`);
    expect(run.stdout).toMatch(/branch\s+agentq\/abcd1234-add-a-contributing-md/);
    expect(run.stdout).toContain('event stream reconnected');
  });

  it('exits 1 when the followed task fails', async () => {
    api.scripts.push(failedScript());
    const run = await runProcess(['submit', 'demo/hello', 'x', '-f'], { env: { AGENTQ_URL: api.url, AGENTQ_TOKEN: api.token } });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/error\s+DISPATCH_AGENT_FAILED/);
  });

  it('exits 2 with a clear message when agentq is not running', async () => {
    const port = await freePort();
    const run = await runProcess(['status', '01jd3k8m2xq4v7c9e5h6t0r2ab'], { env: { AGENTQ_PORT: String(port), AGENTQ_DATA_DIR: dataDir.path } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`cannot connect to agentq at http://localhost:${port} (connection refused)`);
    expect(run.stderr).toContain('start it with npm start');
  });

  it('documents commands and exit codes in --help', async () => {
    const run = await runProcess(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['submit', 'status', 'logs', 'cancel', 'list', 'repo']) expect(run.stdout).toContain(command);
    expect(run.stdout).toMatch(/3 {2}a followed task was canceled/);
    const usage = await runProcess(['submit']);
    expect(usage.code).toBe(2);
  });
});
