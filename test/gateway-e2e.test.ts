import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mintGatewayToken, redisKeys, teamCostOfDay, type AgentEvent, type TaskRecord } from '@agentq/shared';
import { FakeAnthropic, makeTempDir, text, toolUse, waitFor } from '@agentq/shared/testing';
import { startStack, type Stack } from './support/stack.js';

// The model gateway through the whole product: the real Claude Code CLI in an isolated local
// sandbox calls the ingress's gateway with its task's token; a scripted fake of the Anthropic API
// stands upstream and records the credential of every call.

const ROOT = join(import.meta.dirname, '..');
const CLAUDE_BIN = join(ROOT, 'node_modules', '.bin', 'claude');
const REAL_KEY = 'sk-ant-api03-the-platforms-real-key-0123456789abcdef';
const DEFAULT_TOKEN = 'gateway-e2e-default-token-0123456789';
const CAPPED_TOKEN = 'gateway-e2e-capped-token-0123456789';
/** What each scripted call costs at the table's price of the CLI's default model is not assumed: tests count calls. */
const HEAVY = { inputTokens: 20_000, outputTokens: 2_000 };

type Json = Record<string, unknown>;

/** Every file under a directory, read as text (binary files too: a key would show in them as well). */
function filesUnder(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.isDirectory()) out.push(...filesUnder(path));
    else if (stat.isFile()) out.push({ path, text: readFileSync(path, 'latin1') });
  }
  return out;
}

/** Turns that run a shell command each, forever (the task stops before the script ends). */
function endlessShell(count: number): { content: ReturnType<typeof toolUse>[]; usage: typeof HEAVY }[] {
  return Array.from({ length: count }, (_, i) => ({ content: [toolUse('Bash', { command: `echo step ${i}` })], usage: HEAVY }));
}

describe('the model gateway, end to end', () => {
  let fake: FakeAnthropic;
  let stack: Stack;
  let redis: Redis;
  let prefix: string;

  const api = (token: string, path: string, init: RequestInit = {}) =>
    fetch(`${stack.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });

  async function submit(token: string, body: Json): Promise<string> {
    const res = await api(token, '/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', ...body }) });
    expect(res.status, await res.clone().text()).toBe(202);
    return ((await res.json()) as { id: string }).id;
  }

  async function final(token: string, id: string): Promise<TaskRecord> {
    return waitFor(
      async () => {
        const task = (await (await api(token, `/v1/tasks/${id}`)).json()) as TaskRecord;
        return ['succeeded', 'failed', 'canceled', 'timed_out'].includes(task.state) ? task : undefined;
      },
      { timeoutMs: 90_000, what: `task ${id} to end` },
    );
  }

  async function events(token: string, id: string): Promise<AgentEvent[]> {
    const text = await (await api(token, `/v1/tasks/${id}/events?format=jsonl`)).text();
    return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as AgentEvent);
  }

  async function redisDump(): Promise<string> {
    let out = '';
    for (const key of await redis.keys(`${prefix}*`)) {
      const type = await redis.type(key);
      if (type === 'string') out += `${await redis.get(key)}\n`;
      else if (type === 'hash') out += `${JSON.stringify(await redis.hgetall(key))}\n`;
      else if (type === 'stream') out += `${JSON.stringify(await redis.xrange(key, '-', '+'))}\n`;
    }
    return out;
  }

  /** Conversation calls (those the script answers) that reached the fake upstream. */
  const conversationCalls = () => fake.requests.filter((r) => r.path.startsWith('/v1/messages') && Array.isArray((r.body as Json | undefined)?.tools));

  beforeAll(async () => {
    fake = await FakeAnthropic.start();
    // the CLI in the sandbox reaches the gateway at the stack's URL (loopback: the jail shares the network)
    stack = await startStack({
      AGENTQ_API_TOKENS: `${DEFAULT_TOKEN},${CAPPED_TOKEN}:capped`,
      AGENTQ_TEAM_DAILY_USD: 'capped:0.25',
      ANTHROPIC_API_KEY: REAL_KEY,
      ANTHROPIC_BASE_URL: fake.url,
      AGENTQ_HARNESS: 'claude-code',
      AGENTQ_CLAUDE_BIN: CLAUDE_BIN,
      AGENTQ_LOCAL_READ_PATHS: `${CLAUDE_BIN},${realpathSync(CLAUDE_BIN)}`,
      AGENTQ_LOCAL_ISOLATION: 'bwrap',
    });
    redis = new Redis(stack.env.REDIS_URL as string);
    prefix = stack.env.AGENTQ_REDIS_PREFIX as string;
  }, 60_000);
  afterAll(async () => {
    redis?.disconnect();
    await stack?.stop();
    await fake?.close();
  });
  beforeEach(() => {
    fake.requests.length = 0;
  });

  it('runs a task with the real key upstream only, and meters it', async () => {
    fake.script([
      ({ cwd }) => ({ content: [text('Adding it.'), toolUse('Write', { file_path: join(cwd ?? '/nonexistent', 'GATEWAY.md'), content: 'through the gateway\n' })], usage: HEAVY }),
      { content: [text('Added GATEWAY.md.')] },
    ]);
    const id = await submit(DEFAULT_TOKEN, { prompt: 'add a GATEWAY.md' });
    const task = await final(DEFAULT_TOKEN, id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.summary).toBe('Added GATEWAY.md.');
    expect(conversationCalls().length).toBe(2);
    // upstream saw the platform's key on every call, and never a task token
    for (const call of fake.requests) expect(call.credential).toBe(REAL_KEY);
    // metered as it ran: usage events with a running cost, and the record's cost at least that
    const usage = (await events(DEFAULT_TOKEN, id)).filter((e) => e.kind === 'agent.usage' && e.costUsd !== undefined);
    expect(usage.length).toBeGreaterThan(0);
    const metered = Number(await redis.get(redisKeys(prefix).taskSpend(id)));
    expect(metered).toBeGreaterThan(0);
    expect(task.costUsd).toBeGreaterThanOrEqual(metered);
  }, 120_000);

  it('never lets the real key into a sandbox: an agent that prints its whole environment finds a task token, which is redacted', async () => {
    fake.script([
      { content: [toolUse('Bash', { command: 'env; cat "$HOME/.claude.json" 2>/dev/null; echo "key is $ANTHROPIC_API_KEY"' })] },
      { content: [text('Printed the environment.')] },
    ]);
    const id = await submit(DEFAULT_TOKEN, { prompt: 'print the environment' });
    const task = await final(DEFAULT_TOKEN, id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    // the tool's output went back to the model: it shows what the sandbox had, a task token
    const toolOutput = JSON.stringify(conversationCalls().at(-1)?.body);
    expect(toolOutput).toMatch(/key is aqg_[A-Za-z0-9_-]{43}/);
    const token = /key is (aqg_[A-Za-z0-9_-]{43})/.exec(toolOutput)?.[1] ?? 'no token';
    // the real key is nowhere: transcript, Redis, logs, the sandbox's own output and files
    const transcript = JSON.stringify(await events(DEFAULT_TOKEN, id));
    expect(transcript).toContain('key is [REDACTED]');
    const sandboxFiles = filesUnder(join(stack.dataDir, 'sandboxes', id));
    expect(sandboxFiles.some((f) => f.path.endsWith('output.log'))).toBe(true);
    const places: [string, string][] = [
      ['transcript', transcript],
      ['redis', await redisDump()],
      ['logs', stack.logs()],
      ['record', JSON.stringify(task)],
      ...sandboxFiles.map((f): [string, string] => [f.path, f.text]),
      // what reached the model: the conversation (the credential of each call is the real key, upstream)
      ['model calls', JSON.stringify(fake.requests.map((r) => r.body))],
    ];
    for (const [place, content] of places) expect(content, place).not.toContain(REAL_KEY);
    // and the task's token: redacted wherever agentq stores things, dead once the task ended
    for (const [place, content] of places.slice(0, 4)) expect(content, place).not.toContain(token);
    const after = await fetch(`${stack.url}/llm/anthropic/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(after.status).toBe(401);
  }, 120_000);

  it('stops a task at its own budget after a few calls: the next call never reaches upstream', async () => {
    fake.script(endlessShell(30));
    const id = await submit(DEFAULT_TOKEN, { prompt: 'loop for a while', limits: { maxCostUsd: 0.05 } });
    const task = await final(DEFAULT_TOKEN, id);
    expect(task.state).toBe('failed');
    expect(task.error?.code).toBe('DISPATCH_BUDGET_EXCEEDED');
    expect(task.error?.message).toContain('maxCostUsd');
    const calls = conversationCalls().length;
    // each call costs more than the limit's half: it is reached within two, and nothing after the refusal
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(3);
    expect(Number(await redis.get(redisKeys(prefix).taskSpend(id)))).toBeGreaterThanOrEqual(0.05);
  }, 120_000);

  it('stops two running tasks of a team at the team\'s daily cap, counting their spend as it happens', async () => {
    fake.script(endlessShell(40));
    const ids = [await submit(CAPPED_TOKEN, { prompt: 'loop one' }), await submit(CAPPED_TOKEN, { prompt: 'loop two' })];
    const tasks = await Promise.all(ids.map((id) => final(CAPPED_TOKEN, id)));
    for (const task of tasks) {
      expect(task.state).toBe('failed');
      expect(task.error?.code).toBe('DISPATCH_BUDGET_EXCEEDED');
    }
    expect(tasks.some((t) => t.error?.message.includes('AGENTQ_TEAM_DAILY_USD'))).toBe(true);
    const spent = await teamCostOfDay(redis, redisKeys(prefix), 'capped', new Date());
    expect(spent).toBeGreaterThanOrEqual(0.25);
    // at most the calls each task had in flight when the cap was reached went past it
    const perCall = spent / Math.max(1, conversationCalls().length);
    expect(spent).toBeLessThan(0.25 + 2 * perCall + 1e-9);
    // a new task of the team is refused at the door
    const res = await api(CAPPED_TOKEN, '/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', prompt: 'one more' }) });
    expect(res.status).toBe(429);
  }, 180_000);

  it('gives the CLI the same stream through the gateway as from the API directly', async () => {
    const turns = [
      { content: [text('Looking.'), toolUse('Bash', { command: 'echo fidelity' })], usage: { inputTokens: 1200, outputTokens: 80 } },
      { content: [text('Done: fidelity.')], usage: { inputTokens: 1300, outputTokens: 20 } },
    ];
    // a running task to own the token (its agent waits in a command; Claude Code refuses a plain long `sleep`)
    fake.script([{ content: [toolUse('Bash', { command: 'timeout 50 tail -f /dev/null' })] }]);
    const holder = await submit(DEFAULT_TOKEN, { prompt: 'hold a token' });
    // its agent is in its waiting command (so it asks the model nothing while the CLI below runs)
    await waitFor(async () => (await events(DEFAULT_TOKEN, holder)).some((e) => e.kind === 'agent.tool_call'), { timeoutMs: 60_000, what: 'the holder to wait' });
    const token = await mintGatewayToken(redis, redisKeys(prefix), { taskId: holder, team: 'default' }, 600);

    const runCli = async (baseUrl: string, key: string): Promise<string[]> => {
      fake.script(turns);
      const home = await makeTempDir('agentq-fidelity-');
      try {
        const out = await new Promise<string>((resolve, reject) => {
          const child = execFile(
            CLAUDE_BIN,
            ['-p', '--output-format', 'stream-json', '--verbose', '--max-turns', '5', '--permission-mode', 'bypassPermissions', '--', 'say fidelity'],
            { cwd: home.path, env: { PATH: process.env.PATH, HOME: home.path, ANTHROPIC_BASE_URL: baseUrl, ANTHROPIC_API_KEY: key, IS_SANDBOX: '1', DISABLE_AUTOUPDATER: '1', CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1' }, timeout: 60_000 },
            (err, stdout, stderr) => (err ? reject(new Error(`${baseUrl}: ${err.message}\n${stdout.slice(-1500)}\n${stderr.slice(-1500)}`)) : resolve(stdout)),
          );
          child.stdin?.end();
        });
        // what differs between any two runs: ids, times, durations, the directory
        return out
          .split('\n')
          .filter((l) => l.trim())
          .map((l) =>
            l
              .replaceAll(home.path, '<home>')
              .replace(/"(session_id|uuid|parent_tool_use_id|id|tool_use_id|request_id)":"[^"]*"/g, '"$1":"<id>"')
              .replaceAll(home.path.replaceAll('/', '-'), '<home>')
              .replace(/"([a-z_]+_ms)":\d+/g, '"$1":0')
              .replace(/"messaging_socket_path":"[^"]*"/g, '"messaging_socket_path":"<socket>"')
              .replace(/"timestamp":"[^"]*"/g, '"timestamp":"<t>"'),
          );
      } finally {
        await home.remove();
      }
    };
    const direct = await runCli(fake.url, REAL_KEY);
    const gateway = await runCli(`${stack.url}/llm/anthropic`, token);
    expect(direct.length).toBeGreaterThan(3);
    expect(gateway).toEqual(direct);
    await api(DEFAULT_TOKEN, `/v1/tasks/${holder}/cancel`, { method: 'POST' });
    await final(DEFAULT_TOKEN, holder);
  }, 180_000);
});
