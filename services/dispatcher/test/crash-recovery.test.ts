import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DEMO_REPO, type AgentEvent } from '@agentq/shared';
import { startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoHarness } from '../src/harnesses/demo.js';
import { OutputReader } from '../src/run/output-reader.js';
import { RuntimeSecrets } from '../src/runtime-secrets.js';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';
import { groupSignalable, sandboxPgid } from './support/process.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const MAIN = join(ROOT, 'services', 'dispatcher', 'src', 'main.ts');
const LOCK_MS = 2000;
const STALLED_INTERVAL_MS = 1000;
const DEMO_DELAY_MS = 500;
/** Beyond lock + stalled interval: the new process starting, and the agent's next output line. */
const MARGIN_MS = 4000;

interface LogLine {
  msg?: string;
  taskId?: string;
  sandboxId?: string;
  afterLine?: number;
}

/** `node --import tsx services/dispatcher/src/main.ts`, configured from the environment only. */
class DispatcherProcess {
  readonly logs: LogLine[] = [];
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    let partial = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          // not a log line
        }
      }
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  logged(msg: string, taskId?: string): LogLine | undefined {
    return this.logs.find((l) => l.msg === msg && (taskId === undefined || l.taskId === taskId));
  }

  async started(): Promise<void> {
    await waitFor(
      () => {
        if (!this.running) throw new Error('the dispatcher process exited');
        return this.logged('dispatcher started') !== undefined;
      },
      { timeoutMs: 15_000, intervalMs: 25, what: 'the dispatcher process to start' },
    );
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  async stop(): Promise<void> {
    this.kill('SIGTERM');
    const killed = setTimeout(() => this.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killed);
  }
}

/** The events the task's output yields, read again from the sandbox's output file: the reference for "nothing lost, nothing twice". */
async function eventsOfOutput(dataDir: string, sandboxId: string): Promise<{ line: number; kind: string }[]> {
  const text = await readFile(join(dataDir, 'sandboxes', sandboxId, 'output.log'), 'utf8');
  const reader = new OutputReader(demoHarness.createParser(), new RuntimeSecrets([]), demoHarness.name);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.flatMap((line, i) => reader.read({ line: i + 1, text: line }).map((e) => ({ line: i + 1, kind: e.kind })));
}

describe('crash recovery of a dispatcher process', () => {
  let redis: TestRedis;
  let fx: DispatcherFixture | undefined;
  const processes: DispatcherProcess[] = [];

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const p of processes.splice(0)) await p.stop();
    await fx?.close();
    fx = undefined;
  });

  it('after SIGKILL, another dispatcher process re-attaches to the sandbox and continues the transcript', async () => {
    // the stalled check runs at most once per interval for the whole queue: every dispatcher on it shares the timings
    const timings = { AGENTQ_DISPATCHER_LOCK_MS: String(LOCK_MS), AGENTQ_DISPATCHER_STALLED_INTERVAL_MS: String(STALLED_INTERVAL_MS) };
    fx = await startDispatcherFixture(redis.url, timings);
    // only the processes take jobs
    await fx.dispatcher.close();
    const env = {
      ...timings,
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      REDIS_URL: redis.url,
      AGENTQ_REDIS_PREFIX: fx.config.redisPrefix,
      AGENTQ_DATA_DIR: fx.dataDir,
      AGENTQ_DISPATCHER_PORT: '0',
      AGENTQ_HARNESS: 'demo',
      AGENTQ_DEMO_DELAY_MS: String(DEMO_DELAY_MS),
      AGENTQ_LOG_LEVEL: 'info',
    };
    const a = new DispatcherProcess(env);
    processes.push(a);
    await a.started();
    expect(a.logged('dispatcher ready')).toMatchObject({ lockDuration: LOCK_MS, stalledInterval: STALLED_INTERVAL_MS });

    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'add a CONTRIBUTING.md' });
    await fx.waitState(id, 'running');
    await waitFor(async () => (await fx?.events(id))?.some((e) => e.kind === 'agent.tool_call'), { timeoutMs: 15_000, what: 'a tool call' });
    const pgid = await sandboxPgid(fx.dataDir, id);

    a.kill('SIGKILL');
    const killedAt = Date.now();
    await a.exited;
    const seqAtKill = (await fx.store.require(id)).lastSeq ?? 0;
    expect((await fx.store.get(id))?.state).toBe('running');
    expect(groupSignalable(pgid)).toBe(true);

    const b = new DispatcherProcess(env);
    processes.push(b);
    const firstAfter = await waitFor(
      async () => {
        if (!b.running) throw new Error('the second dispatcher process exited');
        return (await fx?.events(id))?.find((e) => e.seq > seqAtKill);
      },
      { timeoutMs: LOCK_MS + STALLED_INTERVAL_MS + MARGIN_MS + 5000, intervalMs: 20, what: 'an event after the kill' },
    );
    const recoveryMs = Date.parse(firstAfter.ts) - killedAt;
    console.info(`crash recovery: ${recoveryMs} ms from SIGKILL to the task's next event (seq ${firstAfter.seq}, ${firstAfter.kind})`);
    expect(recoveryMs).toBeGreaterThanOrEqual(0);
    expect(recoveryMs).toBeLessThan(LOCK_MS + STALLED_INTERVAL_MS + MARGIN_MS);

    const task = await fx.waitFinal(id, 20_000);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.commit).toBeDefined();

    // one sandbox, the one the first dispatcher created, which the second attached to
    expect(task.sandboxId).toBe(id);
    const sandboxes = await readdir(join(fx.dataDir, 'sandboxes'));
    expect(sandboxes).toEqual([id]);
    expect(await sandboxPgid(fx.dataDir, id)).toBe(pgid);
    expect(a.logged('sandbox created', id)).toMatchObject({ sandboxId: id });
    expect(b.logged('sandbox created', id)).toBeUndefined();
    const attached = b.logged('sandbox attached', id);
    expect(attached).toMatchObject({ sandboxId: id });
    expect(attached?.afterLine).toBeGreaterThan(0);

    // seq 1..N, and every line of output gave its events once, in order: nothing lost, nothing twice
    const events: AgentEvent[] = await fx.events(id);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    const fromLines = events.filter((e) => e.line !== undefined).map((e) => ({ line: e.line as number, kind: e.kind }));
    expect(fromLines).toEqual(await eventsOfOutput(fx.dataDir, id));
    const lines = [...new Set(fromLines.map((e) => e.line))];
    expect(lines.some((line) => line <= (attached?.afterLine ?? 0))).toBe(true);
    expect(lines.some((line) => line > (attached?.afterLine ?? 0))).toBe(true);
    expect(events.filter((e) => e.kind === 'step' && e.step === 'sandbox')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'agent.result')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'succeeded' });
  }, 60_000);
});
