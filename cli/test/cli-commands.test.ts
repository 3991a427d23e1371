import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { API_TOKEN_FILE } from '@agentq/shared';
import { freePort, makeTempDir } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
afterEach(() => {
  api.requests.length = 0;
});

describe('agentq submit', () => {
  it('sends the task with the Bearer token and prints where to look', async () => {
    const run = await runInProcess(
      ['submit', 'demo/hello', 'add', 'a', 'CONTRIBUTING.md', '--base', 'main', '--harness', 'demo', '--model', 'm-1', '--max-turns', '7', '--timeout', '90', '--priority', 'high', '--idempotency-key', 'k-123'],
      { env },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [request] = api.requestsTo('POST', '/v1/tasks');
    expect(request?.headers.authorization).toBe(`Bearer ${api.token}`);
    expect(request?.headers['idempotency-key']).toBe('k-123');
    expect(request?.body).toEqual({
      repo: 'demo/hello',
      prompt: 'add a CONTRIBUTING.md',
      baseRef: 'main',
      harness: 'demo',
      model: 'm-1',
      limits: { maxTurns: 7, timeoutSec: 90 },
      priority: 'high',
    });
    const task = [...api.tasks.values()].at(-1);
    expect(run.stdout).toContain(`queued task ${task?.id} on demo/hello`);
    expect(run.stdout).toContain(`viewer  ${task?.viewerUrl}`);
    expect(run.stdout).toContain(`npx agentq logs ${task?.id} -f`);
  });

  it('sends only what was given', async () => {
    const run = await runInProcess(['submit', 'demo/hello', 'fix it'], { env });
    expect(run.code).toBe(0);
    expect(api.requestsTo('POST', '/v1/tasks')[0]?.body).toEqual({ repo: 'demo/hello', prompt: 'fix it' });
    expect(api.requestsTo('POST', '/v1/tasks')[0]?.headers['idempotency-key']).toBeUndefined();
  });

  it('reads the prompt from standard input when it is -', async () => {
    const run = await runInProcess(['submit', 'demo/hello', '-'], { env, stdin: 'rename hello.js\nto main.js\n' });
    expect(run.code).toBe(0);
    expect((api.requestsTo('POST', '/v1/tasks')[0]?.body as { prompt: string }).prompt).toBe('rename hello.js\nto main.js');
  });

  it('falls back to the token file npm start writes in the data dir', async () => {
    const dir = await makeTempDir('agentq-cli-');
    try {
      await writeFile(join(dir.path, API_TOKEN_FILE), `${api.token}\n`);
      const run = await runInProcess(['submit', 'demo/hello', 'x'], { env: { AGENTQ_URL: api.url, AGENTQ_DATA_DIR: dir.path } });
      expect(run.code).toBe(0);
      expect(api.requestsTo('POST', '/v1/tasks')[0]?.headers.authorization).toBe(`Bearer ${api.token}`);

      // relative to the working directory when AGENTQ_DATA_DIR is unset
      await mkdir(join(dir.path, '.data'));
      await writeFile(join(dir.path, '.data', API_TOKEN_FILE), `${api.token}\n`);
      const run2 = await runInProcess(['list'], { env: { AGENTQ_URL: api.url }, cwd: dir.path });
      expect(run2.code).toBe(0);
      expect(api.requestsTo('GET', '/v1/tasks')[0]?.headers.authorization).toBe(`Bearer ${api.token}`);
    } finally {
      await dir.remove();
    }
  });

  it('prefers --token over AGENTQ_TOKEN and explains a refused token', async () => {
    const run = await runInProcess(['--token', 'wrong-token-value', 'submit', 'demo/hello', 'x'], { env });
    expect(run.code).toBe(2);
    expect(api.requestsTo('POST', '/v1/tasks')[0]?.headers.authorization).toBe('Bearer wrong-token-value');
    expect(run.stderr).toContain('INGRESS_UNAUTHORIZED: missing or invalid API token');
    expect(run.stderr).toContain('the API token (from --token) was not accepted');
  });

  it('says how to get a token when there is none', async () => {
    const dir = await makeTempDir('agentq-cli-');
    try {
      const run = await runInProcess(['list'], { env: { AGENTQ_URL: api.url, AGENTQ_DATA_DIR: dir.path } });
      expect(run.code).toBe(2);
      expect(api.requestsTo('GET', '/v1/tasks')[0]?.headers.authorization).toBeUndefined();
      expect(run.stderr).toContain('no API token found');
      expect(run.stderr).toContain(join(dir.path, API_TOKEN_FILE));
    } finally {
      await dir.remove();
    }
  });

  it('prints API errors with their code and exits 2', async () => {
    const run = await runInProcess(['submit', 'nobody/nothing', 'x'], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error: INGRESS_UNKNOWN_REPO: repository nobody/nothing is not known');
    expect(run.stdout).toBe('');
  });

  it('prints the answer as JSON with --json', async () => {
    const run = await runInProcess(['submit', 'demo/hello', 'x', '--json'], { env });
    expect(run.code).toBe(0);
    const answer = JSON.parse(run.stdout) as { id: string; state: string; viewerUrl: string };
    expect(answer.state).toBe('queued');
    expect(api.tasks.get(answer.id)?.viewerUrl).toBe(answer.viewerUrl);
  });

  it.each([
    [['submit', 'demo/hello'], "missing required argument 'prompt'"],
    [['submit', 'demo/hello', 'x', '--max-turns', 'lots'], 'must be a whole number'],
    [['submit', 'demo/hello', 'x', '--harness', 'gpt'], 'Allowed choices are claude-code, codex, command, demo'],
    [['submit', 'demo/hello', '-'], 'the prompt is empty'],
    [['frobnicate'], "unknown command 'frobnicate'"],
  ])('rejects bad usage %j with exit code 2', async (argv, message) => {
    const run = await runInProcess(argv, { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(api.requestsTo('POST', '/v1/tasks')).toHaveLength(0);
  });
});

describe('agentq status, list, cancel, logs, repo add', () => {
  it('shows a task', async () => {
    const task = api.addTask({
      state: 'succeeded',
      repo: 'acme/api',
      prompt: 'fix the flaky test',
      harness: 'demo',
      branch: 'agentq/x-fix',
      commit: 'ffffeeeeddddccccbbbbaaaa9999888877776666',
      diffStat: { files: 2, insertions: 5, deletions: 1 },
      turns: 4,
      costUsd: 1.25,
      error: undefined,
    });
    const run = await runInProcess(['status', task.id], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/state\s+succeeded/);
    expect(run.stdout).toMatch(/repo\s+acme\/api/);
    expect(run.stdout).toMatch(/branch\s+agentq\/x-fix/);
    expect(run.stdout).toMatch(/changes\s+2 files changed, \+5 -1/);
    expect(run.stdout).toMatch(/cost\s+\$1\.25/);

    const json = await runInProcess(['status', task.id, '--json'], { env });
    expect(JSON.parse(json.stdout)).toMatchObject({ id: task.id, state: 'succeeded', turns: 4 });
  });

  it('shows why an automatic follow-up started, in status and list', async () => {
    const task = api.addTask({
      state: 'running',
      repo: 'acme/review',
      prompt: 'answer the review',
      trigger: { kind: 'changes_requested', pullNumber: 12, reviewId: 5, url: 'https://github.com/acme/api/pull/12#pullrequestreview-5', reviewer: 'alice', comments: [{ id: 1, path: 'a.ts' }], attempt: 2 },
    });
    const run = await runInProcess(['status', task.id], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/trigger\s+answering the review of @alice \(attempt 2\) · https:\/\/github\.com\/acme\/api\/pull\/12#pullrequestreview-5\n/);
    const list = await runInProcess(['list', '--repo', 'acme/review'], { env });
    expect(list.stdout).toContain('[review 2] answer the review');
    // a task without one has no trigger line
    const plain = api.addTask({ state: 'running', repo: 'acme/plain', prompt: 'fix it' });
    expect((await runInProcess(['status', plain.id], { env })).stdout).not.toContain('trigger');
  });

  it('shows the cost the model gateway metered so far for a running task', async () => {
    const task = api.addTask({ state: 'running', repo: 'acme/api', prompt: 'fix it', spentUsd: 0.0042 });
    const run = await runInProcess(['status', task.id], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/cost\s+\$0\.0042 so far/);
  });

  it('reports an unknown task with the API code', async () => {
    const run = await runInProcess(['status', 'nope'], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('TASK_NOT_FOUND: task nope not found');
  });

  it('lists tasks with filters', async () => {
    const a = api.addTask({ state: 'running', repo: 'acme/web', prompt: 'a long prompt '.repeat(20) });
    api.addTask({ state: 'failed', repo: 'acme/web' });
    const run = await runInProcess(['list', '--state', 'running', '--repo', 'acme/web', '--limit', '5'], { env });
    expect(run.code).toBe(0);
    expect(api.requestsTo('GET', '/v1/tasks?')[0]?.path).toBe('/v1/tasks?state=running&repo=acme%2Fweb&limit=5');
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATE\s+REPO\s+CREATED\s+PROMPT$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(a.id);
    expect(lines[1]).toContain('running');
    expect(lines[1]).toContain('…');

    const json = await runInProcess(['list', '--state', 'running', '--repo', 'acme/web', '--json'], { env });
    expect((JSON.parse(json.stdout) as { id: string }[]).map((t) => t.id)).toEqual([a.id]);

    const none = await runInProcess(['list', '--repo', 'acme/none'], { env });
    expect(none.stdout).toBe('no tasks\n');
  });

  it('cancels a task and reports a final one', async () => {
    const queued = api.addTask({ state: 'queued' });
    const running = api.addTask({ state: 'running' });
    const done = api.addTask({ state: 'succeeded' });
    const r1 = await runInProcess(['cancel', queued.id], { env });
    expect(r1.code).toBe(0);
    expect(r1.stdout).toBe(`task ${queued.id} canceled\n`);
    const r2 = await runInProcess(['cancel', running.id], { env });
    expect(r2.code).toBe(0);
    expect(r2.stdout).toContain(`cancel requested for task ${running.id} (state: running)`);
    expect(api.tasks.get(running.id)?.cancelRequested).toBe(true);
    const r3 = await runInProcess(['cancel', done.id], { env });
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain('INGRESS_TASK_FINAL: task is already succeeded');
  });

  it('prints a transcript, as lines or as JSON', async () => {
    const task = api.addTask({ state: 'running' }, [
      { kind: 'task.state', state: 'queued' },
      { kind: 'agent.init', harness: 'claude-code', cwd: '/w' },
      { kind: 'agent.tool_call', name: 'Read', input: { file_path: '/w/src/index.ts' } },
      { kind: 'agent.usage', inputTokens: 5 },
      { kind: 'log', stream: 'system', text: 'cloning' },
    ]);
    const run = await runInProcess(['logs', task.id], { env });
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\s+0:00 {2}state {2}queued$/);
    expect(lines[2]).toMatch(/0:03 {2}tool {3}Read src\/index\.ts$/);
    expect(lines[3]).toMatch(/log {4}cloning$/);

    const json = await runInProcess(['logs', task.id, '--json'], { env });
    const events = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; kind: string });
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(events[3]?.kind).toBe('agent.usage');
  });

  it('adds a repository, making a local path absolute', async () => {
    const run = await runInProcess(['repo', 'add', 'acme/tools', '../tools'], { env, cwd: '/srv/work' });
    expect(run.code).toBe(0);
    expect(api.requestsTo('POST', '/v1/repos')[0]?.body).toEqual({ repo: 'acme/tools', source: '/srv/tools' });
    expect(run.stdout).toContain('added repository acme/tools');

    await runInProcess(['repo', 'add', 'acme/a', 'https://example.com/a.git'], { env });
    await runInProcess(['repo', 'add', 'acme/b', 'git@example.com:acme/b.git'], { env });
    expect(api.requestsTo('POST', '/v1/repos').map((r) => (r.body as { source: string }).source).slice(1)).toEqual([
      'https://example.com/a.git',
      'git@example.com:acme/b.git',
    ]);

    const exists = await runInProcess(['repo', 'add', 'demo/hello', '/tmp/x'], { env });
    expect(exists.code).toBe(2);
    expect(exists.stderr).toContain('FORGE_REPO_EXISTS');
  });
});

describe('when agentq is not running', () => {
  it('says so and how to start it', async () => {
    const port = await freePort();
    const run = await runInProcess(['list'], { env: { AGENTQ_PORT: String(port), AGENTQ_TOKEN: 'x'.repeat(20) } });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`cannot connect to agentq at http://localhost:${port} (connection refused)`);
    expect(run.stderr).toContain('is agentq running? start it with npm start');
  });
});
