import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_REPO, DEMO_REPO_FILES, LocalForge, readSlotSnapshot, redisKeys, type AgentEvent, type SlotSnapshot, type TaskRecord } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { SandboxCensus } from './support/sandbox-census.js';
import { startStack, type Stack } from './support/stack.js';

const ROOT = join(import.meta.dirname, '..');
const LIMITS = { global: 4, team: 2, repo: 3 };
/** Tasks per team, submitted in this order: alpha's first, gamma's last. */
const TEAMS = { alpha: 20, beta: 14, gamma: 6 } as const;
type Team = keyof typeof TEAMS;
const TOKENS: Record<Team, string> = { alpha: 'limits-token-alpha-0001', beta: 'limits-token-beta-00002', gamma: 'limits-token-gamma-0003' };
const REPOS = [DEMO_REPO, 'acme/one', 'acme/two', 'acme/three'];
const SAMPLE_MS = 50;

interface Sample {
  at: number;
  /** Task ids with a live sandbox, as the kernel sees them. */
  live: string[];
  /** The slot ledger at the same moment. */
  slots: SlotSnapshot;
}

/** `node --import tsx services/dispatcher/src/main.ts` with the stack's environment. */
function startDispatcher(env: NodeJS.ProcessEnv, output: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'services', 'dispatcher', 'src', 'main.ts')], {
    cwd: ROOT,
    env: { ...env, AGENTQ_DISPATCHER_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  return child;
}

async function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  await exited;
}

/** Task ids the dispatcher logged a new sandbox for. */
function created(output: string[]): string[] {
  return [...output.join('').matchAll(/"taskId":"([0-9a-z]{26})"[^\n]*"msg":"sandbox created"/g)].map((m) => m[1] as string);
}

describe('concurrency limits across two dispatcher processes and a SIGKILL', () => {
  let stack: Stack;
  let redis: Redis;
  const dispatchers: ChildProcess[] = [];
  const output: string[][] = [];

  beforeAll(async () => {
    stack = await startStack(
      {
        AGENTQ_API_TOKENS: Object.entries(TOKENS).map(([team, token]) => `${token}:${team}`).join(','),
        AGENTQ_MAX_RUNNING: String(LIMITS.global),
        AGENTQ_TEAM_MAX_RUNNING: `*:${LIMITS.team}`,
        AGENTQ_REPO_MAX_RUNNING: String(LIMITS.repo),
        AGENTQ_DISPATCHER_CONCURRENCY: '4',
        AGENTQ_DISPATCHER_LOCK_MS: '2000',
        AGENTQ_DISPATCHER_STALLED_INTERVAL_MS: '1000',
        AGENTQ_SLOT_LEASE_MS: '3000',
        AGENTQ_SLOT_RECHECK_MS: '5000',
        AGENTQ_HARNESS: 'demo',
        AGENTQ_DEMO_DELAY_MS: '120',
        AGENTQ_LOG_LEVEL: 'info',
      },
      ['ingress'],
    );
    const forge = new LocalForge(stack.dataDir);
    for (const repo of REPOS) await forge.seed(repo, DEMO_REPO_FILES);
    redis = new Redis(stack.env.REDIS_URL as string);
  }, 60_000);

  afterAll(async () => {
    for (const child of dispatchers) await stop(child);
    redis?.disconnect();
    await stack?.stop();
  });

  it('never has more sandboxes alive than the pool, a team or a repository may have; every task succeeds; slots go to the teams holding fewest', async () => {
    const keys = redisKeys(stack.env.AGENTQ_REDIS_PREFIX);
    const census = new SandboxCensus(stack.dataDir);
    const samples: Sample[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [live, slots] = [census.live(), await readSlotSnapshot(redis, keys)];
        samples.push({ at: Date.now(), live, slots });
        await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
      }
    })();

    for (let i = 0; i < 2; i++) {
      output.push([]);
      dispatchers.push(startDispatcher(stack.env, output[i] as string[]));
    }

    // alpha queues all its tasks first, gamma last: first come, first served would starve gamma
    const teamOf = new Map<string, Team>();
    const repoOf = new Map<string, string>();
    let n = 0;
    for (const [team, count] of Object.entries(TEAMS) as [Team, number][]) {
      for (let i = 0; i < count; i++) {
        const repo = REPOS[n++ % REPOS.length] as string;
        const res = await fetch(`${stack.url}/v1/tasks`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKENS[team]}`, 'content-type': 'application/json' },
          body: JSON.stringify({ repo, prompt: `add a NOTES-${team}-${i}.md` }),
        });
        expect(res.status).toBe(202);
        const { id } = (await res.json()) as { id: string };
        teamOf.set(id, team);
        repoOf.set(id, repo);
      }
    }
    const ids = [...teamOf.keys()];
    const record = async (id: string) => (await (await fetch(`${stack.url}/v1/tasks/${id}`, { headers: { authorization: `Bearer ${TOKENS[teamOf.get(id) as Team]}` } })).json()) as TaskRecord;

    // a waiting task shows why, and where it stands
    const lastGamma = ids.at(-1) as string;
    const waiting = await waitFor(async () => (await record(lastGamma)).waiting, { timeoutMs: 20_000, intervalMs: 50, what: 'the last task to wait' });
    expect(['global', 'team', 'repo']).toContain(waiting.reason);
    expect(waiting.position).toBeGreaterThanOrEqual(1);

    // SIGKILL one dispatcher while sandboxes it created run, then start it again
    const first = dispatchers[0] as ChildProcess;
    await waitFor(
      () => {
        const live = new Set(census.live());
        const done = samples.flatMap((s) => s.live);
        return new Set(done).size >= 10 && created(output[0] as string[]).some((id) => live.has(id));
      },
      { timeoutMs: 90_000, intervalMs: 20, what: 'the first dispatcher to run sandboxes, ten tasks in' },
    );
    const orphans = created(output[0] as string[]).filter((id) => census.live().includes(id));
    await stop(first, 'SIGKILL');
    const killedAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    output.push([]);
    dispatchers.push(startDispatcher(stack.env, output[2] as string[]));

    const finals = await waitFor(
      async () => {
        const all = await Promise.all(ids.map(record));
        return all.every((t) => ['succeeded', 'failed', 'canceled', 'timed_out'].includes(t.state)) ? all : undefined;
      },
      { timeoutMs: 150_000, intervalMs: 250, what: `all tasks to finish; logs:\n${output.map((o) => o.join('').slice(-3000)).join('\n---\n')}` },
    );
    sampling = false;
    await sampler;

    // every task succeeded, each in one sandbox
    for (const task of finals) expect(task.state, `${task.id}: ${JSON.stringify(task.error)}`).toBe('succeeded');
    for (const task of finals) expect(task.waiting).toBeUndefined();
    expect((await readdir(join(stack.dataDir, 'sandboxes'))).sort()).toEqual([...ids].sort());
    expect(orphans.length).toBeGreaterThan(0);

    // the caps held at every sample, counted from the live processes
    expect(samples.length).toBeGreaterThan(100);
    let busiest = 0;
    for (const sample of samples) {
      const byTeam = new Map<string, number>();
      const byRepo = new Map<string, number>();
      for (const id of sample.live) {
        byTeam.set(teamOf.get(id) as string, (byTeam.get(teamOf.get(id) as string) ?? 0) + 1);
        byRepo.set(repoOf.get(id) as string, (byRepo.get(repoOf.get(id) as string) ?? 0) + 1);
      }
      const when = `at ${sample.at - killedAt} ms from the kill: ${JSON.stringify([...byTeam])} ${JSON.stringify([...byRepo])}`;
      expect(sample.live.length, when).toBeLessThanOrEqual(LIMITS.global);
      for (const count of byTeam.values()) expect(count, when).toBeLessThanOrEqual(LIMITS.team);
      for (const count of byRepo.values()) expect(count, when).toBeLessThanOrEqual(LIMITS.repo);
      busiest = Math.max(busiest, sample.live.length);
    }
    // the pool was full: the caps were what held tasks back
    expect(busiest).toBe(LIMITS.global);

    // a slot never went to a team holding more than a team that waited only for a free slot: looked
    // at between two samples with one slot freed and one handed out (nearly all hand-offs)
    const unfair: string[] = [];
    let judged = 0;
    for (let i = 1; i < samples.length; i++) {
      const before = (samples[i - 1] as Sample).slots;
      const after = (samples[i] as Sample).slots;
      const gained = Object.keys(after.holders).filter((id) => !(id in before.holders));
      const freed = Object.keys(before.holders).filter((id) => !(id in after.holders));
      if (gained.length !== 1 || freed.length > 1) continue;
      judged += 1;
      const gainer = after.holders[gained[0] as string] as string;
      const held = (team: string) => Object.entries(before.holders).filter(([id, t]) => t === team && !freed.includes(id)).length;
      for (const [other, reasons] of Object.entries(before.waiting)) {
        if (other === gainer || !reasons.global || !after.waiting[other]?.global) continue;
        if (held(gainer) > held(other)) unfair.push(`${gainer} (holding ${held(gainer)}) got a slot while ${other} (holding ${held(other)}) waited`);
      }
    }
    console.info(`limits: ${samples.length} samples, ${judged} hand-offs judged, ${orphans.length} sandboxes orphaned by the kill`);
    // enough hand-offs were seen one at a time for the check to mean something (fewer when the machine is slow to sample)
    expect(judged).toBeGreaterThanOrEqual(ids.length / 4);
    expect(unfair).toEqual([]);
    // and so gamma, queued last, was not starved by alpha's backlog: its last task started before
    // alpha's last (a gamma task the killed dispatcher was holding may start a few seconds late, so
    // nothing finer is claimed here; the hand-offs above are the exact check)
    const starts = (team: Team) =>
      finals
        .filter((t) => teamOf.get(t.id) === team)
        .map((t) => Date.parse(t.startedAt ?? ''))
        .sort((a, b) => a - b);
    expect(starts('gamma').at(-1)).toBeLessThan(starts('alpha').at(-1) as number);

    // a task that waited said so in its events, with the reason
    const events = (await (await fetch(`${stack.url}/v1/tasks/${lastGamma}/events?format=jsonl`, { headers: { authorization: `Bearer ${TOKENS.gamma}` } })).text())
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as AgentEvent);
    const noted = events.filter((e) => e.kind === 'task.waiting');
    expect(noted.length).toBeGreaterThanOrEqual(1);
    expect(noted[0]).toMatchObject({ reason: waiting.reason });
    const states = events.flatMap((e) => (e.kind === 'task.state' ? [e.state] : []));
    expect(states).toEqual(['queued', 'starting', 'running', 'publishing', 'succeeded']);
  }, 240_000);
});
