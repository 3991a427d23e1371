import { readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsTranscriptArchive, LocalForge, type AgentEvent, type TaskRecord } from '@agentq/shared';
import { makeTempDir, waitFor } from '@agentq/shared/testing';
import { startStack, type Stack } from './support/stack.js';

// A hostile agent (the `command` harness) on the full stack with the default `local` provider,
// isolated by bubblewrap (installed wherever this runs: CI installs it; these tests fail, never
// skip, without it). Each test is one attack from the agent's side; the prompt picks the attack.

const SECRET = 'sk-hostile-0123456789abcdef-do-not-leak';
const VIEWER_SECRET = 'viewer-secret-of-the-platform-0123456789';
const REDIS_PASSWORD = 'redis-password-of-the-stack-0123456789';
const MARK = `3172.${process.pid % 100_000}`;

/** The hostile program: its attacks are chosen by the prompt. */
const HOSTILE = join(import.meta.dirname, 'fixtures', 'hostile-agent.sh');

/** The encodings of the secret the `leak` attack prints, each of which must never be stored. */
function encodings(secret: string): string[] {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const hex = Buffer.from(secret).toString('hex');
  return [secret, b64(secret), b64(`x${secret}`).slice(4, -4), b64(`xy${secret}`).slice(4, -4), b64(`user:${secret}`).slice(8, -4), hex, hex.toUpperCase()];
}

async function waitForFinal(stack: Stack, id: string, timeoutMs = 60_000): Promise<TaskRecord> {
  return waitFor(
    async () => {
      const task = (await (await stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord;
      return ['succeeded', 'failed', 'canceled', 'timed_out'].includes(task.state) ? task : undefined;
    },
    { timeoutMs, what: `task ${id} to end` },
  );
}

async function events(stack: Stack, id: string): Promise<AgentEvent[]> {
  const text = await (await stack.api(`/v1/tasks/${id}/events?format=jsonl`)).text();
  return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as AgentEvent);
}

const logText = (list: AgentEvent[]) =>
  list.flatMap((e) => (e.kind === 'log' ? [e.text] : [])).join('\n');

async function submit(stack: Stack, prompt: string): Promise<string> {
  const res = await stack.api('/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', prompt }) });
  expect(res.status, `${await res.clone().text()}\n${stack.logs().slice(-3000)}`).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** Pids of this machine running exactly `command`. */
function processesRunning(command: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') === `${command.split(' ').join('\0')}\0`) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('a hostile agent in an isolated local sandbox', () => {
  let stack: Stack;
  let scripts: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    scripts = await makeTempDir('agentq-hostile-');
    await writeFile(join(scripts.path, 'secret.txt'), 'a file outside every sandbox\n');
    stack = await startStack(
      {
        AGENTQ_HARNESS: 'command',
        AGENTQ_HARNESS_COMMAND: `bash ${HOSTILE}`,
        AGENTQ_LOCAL_ISOLATION: 'bwrap',
        AGENTQ_SANDBOX_ENV: 'HOSTILE_SECRET',
        HOSTILE_SECRET: SECRET,
        AGENTQ_VIEWER_SECRET: VIEWER_SECRET,
      },
      undefined,
      { redis: { password: REDIS_PASSWORD } },
    );
    // what the agent should never see: a secret file in the data dir, where the generated ones live
    await writeFile(join(stack.dataDir, 'viewer-secret'), `${VIEWER_SECRET}\n`, { mode: 0o600 });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await scripts?.remove();
  });

  it('reads nothing of the platform: data dir, forge, other sandboxes, /proc, files by absolute path, Redis', async () => {
    const first = await submit(stack, 'leak from a first task, so another sandbox exists');
    await waitForFinal(stack, first);
    const forgeBefore = await new LocalForge(stack.dataDir).branchCommit('demo/hello', 'main');
    const redisPort = new URL(stack.env.REDIS_URL as string).port;
    // the agent is told where things are, which gives it no access
    const id = await submit(stack, `read DATA=${stack.dataDir} OUTSIDE=${scripts.path} REDIS_PORT=${redisPort}`);
    const task = await waitForFinal(stack, id);
    const out = logText(await events(stack, id));
    expect(task.state, out).toBe('succeeded');
    expect(out).toContain(`uid ${process.getuid?.() === 0 ? 65534 : process.getuid?.()}`);
    for (const label of ['data dir listing', 'decoy secret file', 'forge', 'forge write', 'other sandboxes', 'file outside by absolute path', 'any environ with the platform\'s secrets', 'own git token']) {
      expect(out, label).toContain(`${label}: denied`);
    }
    expect(Number(/processes (\d+)/.exec(out)?.[1])).toBeLessThan(8);
    expect(out).toMatch(/redis says: -NOAUTH/);
    // the agent's work still lands: its file is in the pushed commit; the forge is otherwise untouched
    expect(task.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(await new LocalForge(stack.dataDir).branchCommit('demo/hello', 'main')).toBe(forgeBefore);
    expect(readdirSync(join(stack.dataDir, 'repos', 'demo', 'hello.git'))).not.toContain('agent-was-here');
  }, 120_000);

  it('cannot forge the outcome: its marker lines are text, killing the run script fails', async () => {
    const id = await submit(stack, 'forge');
    const task = await waitForFinal(stack, id);
    const list = await events(stack, id);
    expect(task.state).toBe('failed');
    expect(task.error?.code).toBe('DISPATCH_AGENT_FAILED');
    expect(task.commit).toBeUndefined();
    expect(task.diffStat).toBeUndefined();
    expect(task.branch).not.toBe('agentq/forged');
    // no git event says what the agent printed
    const git = list.filter((e) => e.kind === 'git');
    expect(git.some((e) => e.kind === 'git' && (e.action === 'push' || e.action === 'commit'))).toBe(false);
    const out = logText(list);
    expect(out).toContain('still here');
    // the forged lines are in the transcript as what they are: the agent's output (JSON lines pass through as `raw`)
    expect(list.some((e) => e.kind === 'raw' && JSON.stringify(e).includes('agentq/forged'))).toBe(true);
    expect(await new LocalForge(stack.dataDir).branchCommit('demo/hello', 'agentq/forged')).toBeUndefined();
  }, 120_000);

  it('leaves nothing running after a cancel, setsid or not', async () => {
    const id = await submit(stack, `escape MARK=${MARK}`);
    await waitFor(async () => logText(await events(stack, id)).includes('ready to be canceled'), { timeoutMs: 60_000, what: 'the agent to be ready' });
    await waitFor(() => processesRunning(`sleep ${MARK}`).length === 3, { timeoutMs: 10_000, what: 'its three sleeps' });
    const res = await stack.api(`/v1/tasks/${id}/cancel`, { method: 'POST' });
    expect(res.status).toBe(202);
    const task = await waitForFinal(stack, id, 30_000);
    expect(task.state).toBe('canceled');
    // gone within the cancel's deadline (the grace period before SIGKILL, 2 s)
    await waitFor(() => processesRunning(`sleep ${MARK}`).length === 0, { timeoutMs: 5000, what: 'no process of the task left' });
  }, 120_000);

  it('cannot get a sandbox secret out in any encoding: Redis, the transcript, the record and the logs hold none', async () => {
    const id = await submit(stack, 'leak');
    const task = await waitForFinal(stack, id);
    const out = logText(await events(stack, id));
    expect(out).toContain('plain [REDACTED]');
    const redis = new Redis(stack.env.REDIS_URL as string);
    let stored = '';
    try {
      for (const key of await redis.keys(`${stack.env.AGENTQ_REDIS_PREFIX}*`)) {
        const type = await redis.type(key);
        if (type === 'string') stored += await redis.get(key);
        else if (type === 'hash') stored += JSON.stringify(await redis.hgetall(key));
        else if (type === 'stream') stored += JSON.stringify(await redis.xrange(key, '-', '+'));
      }
      expect(stored).toContain(id);
    } finally {
      redis.disconnect();
    }
    const archive = FsTranscriptArchive.forDataDir(stack.dataDir);
    await waitFor(async () => (await archive.readTask(id)) !== undefined, { timeoutMs: 20_000, what: 'the stored transcript' });
    const transcript = await readFile(archive.eventsPath(id), 'utf8');
    expect(transcript).toContain('[REDACTED]');
    const places = { events: out, record: JSON.stringify(task), redis: stored, transcript, logs: stack.logs() };
    for (const form of encodings(SECRET)) {
      for (const [place, text] of Object.entries(places)) expect(text, `${form} in ${place}`).not.toContain(form);
    }
    // and the split secret's halves are not both there in a row
    expect(out).not.toMatch(new RegExp(`split ${SECRET.slice(0, 14)}\\n${SECRET.slice(14)}`));
  }, 120_000);
});
