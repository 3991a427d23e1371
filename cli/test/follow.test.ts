import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApi } from './support/fake-api.js';
import { runInProcess } from './support/run-cli.js';
import { canceledScript, failedScript, succeededScript, timedOutScript } from './support/scripts.js';

let api: FakeApi;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  api = new FakeApi();
  await api.start();
  env = { AGENTQ_URL: api.url, AGENTQ_TOKEN: api.token };
});
afterAll(() => api.close());

const count = (text: string, part: string) => text.split(part).length - 1;

describe('agentq submit --follow', () => {
  it('shows progress and the outcome of a task that succeeds, and exits 0', async () => {
    api.scripts.push(succeededScript());
    const run = await runInProcess(['submit', 'demo/hello', 'add a CONTRIBUTING.md', '--follow'], { env });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = run.stdout;
    const task = [...api.tasks.values()].at(-1);
    expect(out).toContain(`queued task ${task?.id} on demo/hello`);
    expect(out).toMatch(/0:00 {2}state {2}queued\n/);
    expect(out).toMatch(/state {2}running\n/);
    expect(out).toMatch(/step {3}cloning the repository\n/);
    // agent messages on one line; tool calls with the path relative to the agent's directory
    expect(out).toMatch(/says {3}I'll add a CONTRIBUTING\.md that explains how to send changes\.\n/);
    expect(out).toMatch(/tool {3}Write CONTRIBUTING\.md\n/);
    expect(out).toMatch(/tool {3}Bash git status --short\n/);
    expect(out).toMatch(/git {4}committed 1234567890 \(1 file changed, \+12 -0\)\n/);
    expect(out).toMatch(/state {2}succeeded\n/);
    // elapsed times come from the event timestamps
    expect(out).toMatch(/0:28 {2}state {2}succeeded/);
    // the outcome
    expect(out).toContain(`✔ task ${task?.id} succeeded`);
    expect(out).toMatch(/branch\s+agentq\/abcd1234-add-a-contributing-md\n/);
    expect(out).toMatch(/commit\s+1234567890abcdef1234567890abcdef12345678\n/);
    expect(out).toMatch(/changes\s+1 file changed, \+12 -0\n/);
    expect(out).toMatch(/turns\s+3\n/);
    expect(out).toMatch(/cost\s+\$0\.0123\n/);
    expect(out).toMatch(/duration\s+4\.2s\n/);
    expect(out).toMatch(new RegExp(`viewer\\s+${task?.viewerUrl?.replace(/[?.]/g, '\\$&')}`));
    // plain output: no escape sequences
    expect(out).not.toContain('\x1b[');
  });

  it.each([
    ['failed', failedScript(), 1, '✖', 'DISPATCH_AGENT_FAILED: the agent exited with code 1'],
    ['canceled', canceledScript(), 3, '■', undefined],
    ['timed out', timedOutScript(), 4, '⏱', 'DISPATCH_TIMEOUT: the task ran longer than 60s'],
  ])('reports a task that %s and exits with its code', async (word, script, code, mark, error) => {
    api.scripts.push(script);
    const run = await runInProcess(['submit', 'demo/hello', 'x', '--follow'], { env });
    expect(run.code).toBe(code);
    const task = [...api.tasks.values()].at(-1);
    expect(run.stdout).toContain(`${mark} task ${task?.id} ${word}`);
    if (error) expect(run.stdout).toMatch(new RegExp(`\\n  error\\s+${error}`));
    if (word === 'failed') expect(run.stdout).toMatch(/tool {3}error: npm ERR! missing script: test\n/);
  });

  it('reopens a dropped event stream with Last-Event-ID and shows every event once', async () => {
    const script = succeededScript();
    script.dropAfterSeq = 10;
    api.scripts.push(script);
    const before = api.lastEventIds.length;
    const run = await runInProcess(['submit', 'demo/hello', 'x', '--follow'], { env });
    expect(run.code).toBe(0);
    expect(api.lastEventIds.slice(before)).toEqual([undefined, '10']);
    expect(run.stdout).toContain('event stream interrupted');
    expect(run.stdout).toContain('event stream reconnected');
    expect(count(run.stdout, 'Write CONTRIBUTING.md')).toBe(1);
    expect(count(run.stdout, 'Bash git status')).toBe(1);
    expect(count(run.stdout, 'state  succeeded')).toBe(1);
  });

  it('keeps a status line in place on a terminal', async () => {
    api.scripts.push(succeededScript());
    const run = await runInProcess(['submit', 'demo/hello', 'x', '--follow'], { env: { ...env, NO_COLOR: '1' }, tty: true, columns: 60 });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('\r\x1b[2K');
    expect(run.stdout).toMatch(/⠋ running · running the agent · \d+:\d\d · 1 tool call/);
    // the status line is cleared before the outcome, and lines fit the terminal
    const visible = run.stdout.split('\r\x1b[2K').at(-1) ?? '';
    expect(visible).toContain('succeeded');
    const pieces = run.stdout.replaceAll('\r\x1b[2K', '\n').split('\n');
    const progress = pieces.filter((p) => /^\s+\d+:\d\d {2}|^⠋/.test(p));
    expect(progress.length).toBeGreaterThan(20);
    for (const line of progress) expect(line.length).toBeLessThanOrEqual(60);
    expect(progress.some((line) => line.startsWith('⠋') && line.endsWith('…'))).toBe(true);
  });

  it('shows the running cost from the model gateway in the status line', async () => {
    const script = succeededScript();
    const result = script.events.findIndex((e) => e.kind === 'agent.result');
    script.events.splice(result, 0, { kind: 'agent.usage', inputTokens: 10, outputTokens: 5, costUsd: 0.0042 });
    api.scripts.push(script);
    const run = await runInProcess(['submit', 'demo/hello', 'x', '--follow'], { env: { ...env, NO_COLOR: '1' }, tty: true, columns: 120 });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/⠋ running · running the agent · \d+:\d\d · \d+ tool calls? \(last: \w+\) · \$0\.0042 so far/);
  });

  it('shows why a queued task waits, as a line and in the status line until it starts', async () => {
    const script = succeededScript();
    script.events.unshift({ kind: 'task.waiting', reason: 'team', position: 2 });
    api.scripts.push(script);
    const run = await runInProcess(['submit', 'demo/hello', 'x', '--follow'], { env: { ...env, NO_COLOR: '1' }, tty: true, columns: 100 });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/ {2}wait {3}waiting: team limit reached \(position 2\)\n/);
    const statuses = run.stdout.replaceAll('\r\x1b[2K', '\n').split('\n').filter((p) => p.startsWith('⠋'));
    expect(statuses.some((line) => /^⠋ queued · waiting: team limit reached \(position 2\) · \d+:\d\d$/.test(line))).toBe(true);
    expect(statuses.some((line) => line.startsWith('⠋ running') && line.includes('waiting'))).toBe(false);
  });

  it('prints JSON lines with --json', async () => {
    api.scripts.push(failedScript());
    const run = await runInProcess(['submit', 'demo/hello', 'x', '--follow', '--json'], { env });
    expect(run.code).toBe(1);
    const lines = run.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ state: 'queued' });
    expect(lines.slice(1).map((e) => e.seq)).toEqual(lines.slice(1).map((_, i) => i + 1));
    expect(lines.at(-1)).toMatchObject({ kind: 'task.state', state: 'failed' });
  });
});

describe('agentq logs --follow', () => {
  it('follows an existing task to its end', async () => {
    const script = canceledScript();
    const task = api.addTask({ state: 'canceled' }, script.events);
    const run = await runInProcess(['logs', task.id, '-f'], { env });
    expect(run.code).toBe(3);
    expect(run.stdout).toMatch(/state {2}canceled\n/);
    expect(run.stdout).toContain(`■ task ${task.id} canceled`);
  });

  it('exits 2 for an unknown task', async () => {
    const run = await runInProcess(['logs', 'missing', '--follow'], { env });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('TASK_NOT_FOUND');
  });

  it('stops following on interrupt with exit code 130, leaving the task running', async () => {
    const task = api.addTask({ state: 'running' }, [{ kind: 'task.state', state: 'queued' }]);
    const controller = new AbortController();
    const pending = runInProcess(['logs', task.id, '--follow'], { env, signal: controller.signal });
    // the stream stays open: the task is not final
    await new Promise((r) => setTimeout(r, 300));
    controller.abort();
    const run = await pending;
    expect(run.code).toBe(130);
    expect(run.stderr).toContain(`stopped following task ${task.id}; it keeps running`);
  });
});
