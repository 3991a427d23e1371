import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_REPO, type AgentEvent } from '@agentq/shared';
import { FakeGitHub, GitHttpServer, generateAppKeyPair, makeTempDir, startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import type { WorkerTuning } from '../src/dispatcher.js';
import { DockerSandboxProvider } from '../src/providers/docker/docker-provider.js';
import { ModalSandboxProvider } from '../src/providers/modal/modal-provider.js';
import type { SandboxProvider } from '../src/providers/sandbox-provider.js';
import { TASK_TAG } from '../src/sandbox-tags.js';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';
import { FakeDockerEngine } from './support/fake-docker-engine.js';
import { ModalDouble } from './support/modal-double.js';
import { waitGroupGone } from './support/process.js';
import { git } from './support/git.js';
import { dumpRedis } from './support/redis-dump.js';
import { expectContiguous } from './support/event-checks.js';

const REPO = 'octo/widgets';
const INSTALLATION = 77;
/** The provider's image, for sandboxes whose repository names none. */
const DEFAULT_IMAGE = 'agentq-sandbox:e2e';
/** The image the repository's `.agentq.yml` asks for. */
const REPO_IMAGE = 'registry.example.com/octo/widgets-sandbox:3';
const REPO_CONFIG = `image: ${REPO_IMAGE}\nsetup:\n  - 'echo setup-ok-$((6 * 7))'\n`;
/** A prompt with this in it makes the agent wait, after its edit, until the test releases it. */
const HOLD = '[hold]';
/** Short queue timings, so that a hand-back that does not land is recovered as a stalled job in time. */
const WORKER: WorkerTuning = { cancelPollMs: 200, lockDurationMs: 5000, stalledIntervalMs: 2000 };

/**
 * An agent in Claude Code's stream-json: init, a message, a Write tool call and its result (it
 * writes NOTES.md in the working tree), then, for a prompt with [hold], a wait until the file
 * `<gate dir>/<task id>` exists (at most 30 s), a pause, and the result line. Arguments: the gate
 * directory, then the prompt.
 */
const AGENT_SCRIPT = `#!/usr/bin/env bash
set -euo pipefail
gates=$1
prompt=$2
echo '{"type":"system","subtype":"init","session_id":"e2e-session","model":"e2e-model","tools":["Write"]}'
echo '{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"Adding NOTES.md."}]}}'
echo '{"type":"assistant","message":{"id":"m2","content":[{"type":"tool_use","id":"tu1","name":"Write","input":{"file_path":"NOTES.md"}}]}}'
printf '# Notes\\n\\n%s\\n' "$prompt" > NOTES.md
echo '{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"tu1","content":"File created"}]}}'
case "$prompt" in
  *'${HOLD}'*)
    echo "holding for the test"
    n=0
    until [ -e "$gates/$AGENTQ_TASK_ID" ]; do
      n=$((n + 1))
      if [ "$n" -gt 600 ]; then echo "never released"; exit 3; fi
      sleep 0.05
    done
    echo "released by the test"
    ;;
esac
sleep 0.2
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":2,"total_cost_usd":0.02,"duration_ms":300,"result":"Added NOTES.md.","session_id":"e2e-session"}'
`;

/** One sandbox as the engine / the SDK double knows it. */
interface SandboxView {
  id: string;
  image: string;
  running: boolean;
  /** Exit code of the sandbox (docker: the container's; modal: the sandbox's, 137 once terminated). */
  exitCode: number | null;
  /** Stop, kill or terminate requests the sandbox got from outside. */
  stopRequests: number;
  /** Process group of the sandbox's main process. */
  pid: number | undefined;
}

/** A remote provider over its stand-in (a fake Engine API, an SDK double), seen from the test. */
interface RemoteTarget {
  readonly name: 'docker' | 'modal';
  /**
   * What a sandbox looks like after its task ended by itself: `kept` (docker: the container has
   * stopped and is kept for follow-ups) or `terminated` (modal: released sandboxes are terminated).
   */
  readonly afterRun: 'kept' | 'terminated';
  start(dir: string): Promise<void>;
  /** A new provider on the stand-in; each dispatcher gets its own, as each dispatcher process has. */
  provider(): SandboxProvider;
  /** How many sandboxes the providers asked to create for the task. */
  createRequests(taskId: string): number;
  /** The sandboxes of the task that exist. */
  sandboxes(taskId: string): SandboxView[];
  /** Everything the providers sent to the stand-in (no file contents), as text. */
  requests(): string;
  /** A private file (`SandboxSpec.files`) as it is in the sandbox's filesystem. */
  privateFile(sandboxId: string, name: string): Promise<{ content: string; mode: number }>;
  stop(): Promise<void>;
}

function dockerTarget(): RemoteTarget {
  let engine: FakeDockerEngine | undefined;
  const need = (): FakeDockerEngine => {
    if (!engine) throw new Error('the fake engine is not started');
    return engine;
  };
  return {
    name: 'docker',
    afterRun: 'kept',
    start: async () => {
      engine = await FakeDockerEngine.start({ images: [DEFAULT_IMAGE], pullable: [REPO_IMAGE] });
    },
    provider: () => new DockerSandboxProvider({ docker: need().client(), image: DEFAULT_IMAGE, cpu: 1, memoryMb: 512, graceMs: 1000, pollMs: 50 }),
    createRequests: (taskId) =>
      need().calls.filter((c) => c.method === 'POST' && c.path === '/containers/create' && c.query.name === `agentq-${taskId}`).length,
    sandboxes: (taskId) =>
      need()
        .allContainers()
        .filter((c) => c.labels[TASK_TAG] === taskId)
        .map((c) => ({
          id: c.id,
          image: c.image,
          running: c.state === 'running',
          exitCode: c.state === 'exited' ? c.exitCode : null,
          stopRequests: need().calls.filter((call) => {
            const m = /^\/containers\/([^/]+)\/(stop|kill)$/.exec(call.path);
            return call.method === 'POST' && m !== null && c.id.startsWith(decodeURIComponent(m[1] ?? '-'));
          }).length,
          pid: c.pid,
        })),
    requests: () => JSON.stringify(need().calls.map((c) => ({ url: c.url, body: c.body, entries: c.entries }))),
    privateFile: (sandboxId, name) => fileIn(need().hostPath(sandboxId, `/agentq/work/${name}`)),
    stop: async () => {
      await engine?.close();
    },
  };
}

function modalTarget(): RemoteTarget {
  let double: ModalDouble | undefined;
  let root = '';
  const need = (): ModalDouble => {
    if (!double) throw new Error('the Modal double is not made');
    return double;
  };
  return {
    name: 'modal',
    afterRun: 'terminated',
    start: async (dir) => {
      root = join(dir, 'agentq');
      double = new ModalDouble({ dir: join(dir, 'modal-sandboxes'), privatePaths: [root] });
    },
    provider: () =>
      new ModalSandboxProvider({
        client: need(),
        app: 'agentq-e2e',
        image: DEFAULT_IMAGE,
        cpu: 1,
        memoryMiB: 512,
        secretNames: [],
        allowedDomains: undefined,
        root,
        pollMs: 25,
        graceMs: 5000,
      }),
    createRequests: (taskId) => need().creates.filter((c) => c.params.tags?.[TASK_TAG] === taskId).length,
    sandboxes: (taskId) =>
      need()
        .creates.filter((c) => c.params.tags?.[TASK_TAG] === taskId && c.sandboxId !== undefined)
        .flatMap((c) => {
          const s = need().made.get(c.sandboxId ?? '');
          return s ? [{ id: s.sandboxId, image: c.image, running: s.exitCode === null, exitCode: s.exitCode, stopRequests: s.terminateCalls, pid: s.pid }] : [];
        }),
    requests: () =>
      JSON.stringify({
        apps: need().appLookups,
        images: need().imageTags,
        creates: need().creates,
        execs: need().execs,
        secrets: need().ephemeralSecrets,
      }),
    privateFile: (sandboxId, name) => fileIn(need().mapPath(sandboxId, `${root}/work/${name}`)),
    stop: async () => {
      await double?.shutdown();
    },
  };
}

async function fileIn(path: string): Promise<{ content: string; mode: number }> {
  return { content: await readFile(path, 'utf8'), mode: (await stat(path)).mode & 0o777 };
}




/** Every output line's events appear once and in order: a replayed line would make `line` go back. */
function expectLinesOnce(events: AgentEvent[]): void {
  const lines = events.filter((e) => e.line !== undefined).map((e) => e.line as number);
  expect(lines.length).toBeGreaterThan(0);
  lines.forEach((line, i) => {
    if (i > 0) expect(line).toBeGreaterThanOrEqual(lines[i - 1] as number);
  });
  const raws = events.filter((e) => e.line !== undefined && e.raw !== undefined).map((e) => e.line as number);
  expect(new Set(raws).size).toBe(raws.length);
}

const steps = (events: AgentEvent[]) => events.filter((e) => e.kind === 'step').map((e) => (e.kind === 'step' ? e.step : ''));
const logTexts = (events: AgentEvent[]) => events.flatMap((e) => (e.kind === 'log' ? [e.text] : []));

/** The dispatcher's JSON log records with this message about this task. */
function logged(fx: DispatcherFixture, msg: string, taskId: string): Record<string, unknown>[] {
  return fx.logs
    .join('')
    .split('\n')
    .filter((line) => line.includes(`"${msg}"`) && line.includes(taskId))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((record) => record.msg === msg && record.taskId === taskId);
}

let redis: TestRedis;

beforeAll(async () => {
  redis = await startTestRedis();
});

afterAll(async () => {
  await redis?.stop();
});

describe.each([dockerTarget(), modalTarget()])('tasks end to end in $name sandboxes', (target) => {
  let fake: FakeGitHub;
  let gitServer: GitHttpServer;
  let root: Awaited<ReturnType<typeof makeTempDir>>;
  let gates: string;
  let bare: string;
  let fx: DispatcherFixture;

  beforeAll(async () => {
    root = await makeTempDir('agentq-remote-e2e-');
    await target.start(root.path);
    const work = join(root.path, 'work');
    await mkdir(work);
    git(['init', '--quiet', '-b', 'main'], work);
    await writeFile(join(work, 'README.md'), '# widgets\n');
    await writeFile(join(work, '.agentq.yml'), REPO_CONFIG);
    git(['add', '-A'], work);
    git(['commit', '--quiet', '-m', 'initial'], work);
    const served = join(root.path, 'served');
    await mkdir(join(served, 'octo'), { recursive: true });
    bare = join(served, 'octo', 'widgets.git');
    git(['clone', '--quiet', '--bare', work, bare], root.path);

    const keyPair = generateAppKeyPair();
    fake = await new FakeGitHub({ appId: 4242, publicKey: keyPair.publicKey, installations: { [REPO]: INSTALLATION }, repositories: served }).start();
    gitServer = await new GitHttpServer({ root: served, authorize: (_user, password, repo) => fake.isValidToken(password, repo) }).start();

    gates = join(root.path, 'gates');
    await mkdir(gates);
    const script = join(root.path, 'agent.sh');
    await writeFile(script, AGENT_SCRIPT, { mode: 0o755 });
    fx = await startDispatcherFixture(
      redis.url,
      {
        AGENTQ_SANDBOX_PROVIDER: target.name,
        AGENTQ_HARNESS: 'command',
        AGENTQ_HARNESS_COMMAND: `bash '${script}' '${gates}'`,
        GITHUB_APP_ID: '4242',
        GITHUB_APP_PRIVATE_KEY: keyPair.privateKey,
        GITHUB_API_URL: fake.url,
        GITHUB_GIT_URL: gitServer.url,
      },
      WORKER,
      {
        // read at each start: every dispatcher of the fixture gets a provider of its own
        get provider() {
          return target.provider();
        },
      },
    );
  }, 30_000);

  afterAll(async () => {
    await fx?.close();
    await target.stop();
    await gitServer?.stop();
    await fake?.stop();
    await root?.remove();
  });

  const tokens = () => fake.tokenRequests.map((r) => r.token);
  const release = (taskId: string) => writeFile(join(gates, taskId), '');
  const finished = (id: string) =>
    fx.waitFinal(id, 25_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; dispatcher logs:\n${fx.logs.join('').slice(-6000)}`);
    });

  it('refuses a task on the local forge, which the sandbox cannot reach, creating no sandbox', async () => {
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'add NOTES.md' });
    const task = await finished(id);
    expect(task.state).toBe('failed');
    expect(task.error?.code).toBe('DISPATCH_FORGE_UNREACHABLE');
    expect(task.sandboxId).toBeUndefined();
    expect(target.createRequests(id)).toBe(0);
  });

  it('runs a GitHub task in one sandbox: clone, setup, agent, commit, push and a draft pull request', async () => {
    const prompt = 'add NOTES.md with a few notes';
    const id = await fx.submit({ repo: REPO, prompt }, { source: 'github' });
    const task = await finished(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task).toMatchObject({ forge: 'github', provider: target.name, harness: 'command', turns: 2, costUsd: 0.02, summary: 'Added NOTES.md.' });

    // the branch reached the served repository, with the agent's file
    const branch = task.branch ?? 'missing';
    expect(git(['rev-parse', `refs/heads/${branch}`], bare).trim()).toBe(task.commit);
    expect(git(['show', `${branch}:NOTES.md`], bare)).toBe(`# Notes\n\n${prompt}\n`);
    // and a draft pull request was opened for it
    const pull = fake.pulls.find((p) => p.head === branch);
    expect(pull).toMatchObject({ repo: REPO, base: 'main', draft: true });
    expect(task.prUrl).toBe(pull?.html_url);

    const events = await fx.events(id);
    expectContiguous(events);
    expectLinesOnce(events);
    expect(steps(events)).toEqual(['sandbox', 'clone', 'setup', 'agent', 'commit', 'push']);
    const logs = logTexts(events);
    expect(logs).toContain(`settings from .agentq.yml at the default branch: image ${REPO_IMAGE}; setup: 1. echo setup-ok-$((6 * 7))`);
    expect(logs).toContain('setup-ok-42'); // the setup command ran in the sandbox
    expect(events.find((e) => e.kind === 'agent.init')).toMatchObject({ sessionId: 'e2e-session' });
    expect(events.filter((e) => e.kind === 'agent.message').map((e) => (e.kind === 'agent.message' ? e.text : ''))).toEqual(['Adding NOTES.md.']);
    expect(events.some((e) => e.kind === 'agent.tool_call' && e.name === 'Write')).toBe(true);
    expect(events.find((e) => e.kind === 'git' && e.action === 'push')).toMatchObject({ ok: true, branch, commit: task.commit });
    expect(events.some((e) => e.kind === 'pr.opened' && e.url === pull?.html_url)).toBe(true);
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'succeeded' });

    // one sandbox, of the repository's image, no longer running
    expect(target.createRequests(id)).toBe(1);
    const sandboxes = target.sandboxes(id);
    expect(sandboxes).toHaveLength(1);
    const [sandbox] = sandboxes;
    expect(task.sandboxId).toBe(sandbox?.id);
    expect(sandbox?.image).toBe(REPO_IMAGE);
    expect(sandbox?.running).toBe(false);
    if (target.afterRun === 'kept') {
      // ended by itself (exit code 0: not stopped while it ran), kept for follow-ups; the dispatcher's
      // terminate before freeing the task's slot found it stopped already
      expect(sandbox).toMatchObject({ exitCode: 0 });
    } else {
      // released: terminated
      expect(sandbox?.stopRequests).toBeGreaterThan(0);
    }
    expect(sandbox?.pid).toBeGreaterThan(1);
    await waitGroupGone(sandbox?.pid as number);

    // the token reached git through the private file (the push authenticated with it), and is nowhere else
    expect(tokens().length).toBeGreaterThan(0);
    expect(gitServer.seenPasswords.some((p) => tokens().includes(p))).toBe(true);
    const tokenFile = await target.privateFile(sandbox?.id ?? '', 'git-token');
    expect(tokens()).toContain(tokenFile.content);
    expect(tokenFile.mode).toBe(0o600);
    const stored = await dumpRedis(fx.redis);
    const sent = target.requests();
    const transcript = JSON.stringify(events);
    const dispatcherLogs = fx.logs.join('');
    expect(sent).toContain('git-token'); // the file is named in the requests; its content travels in none of them
    for (const token of tokens()) {
      expect(stored.includes(token), 'a token in Redis').toBe(false);
      expect(sent.includes(token), 'a token in a request to the engine / the SDK').toBe(false);
      expect(transcript.includes(token), 'a token in the events').toBe(false);
      expect(dispatcherLogs.includes(token), 'a token in the dispatcher logs').toBe(false);
    }
  }, 30_000);

  it('hands a running task over at shutdown; the next dispatcher re-attaches to the same sandbox', async () => {
    const first = fx.dispatcher;
    const id = await fx.submit({ repo: REPO, prompt: `add NOTES.md ${HOLD}` }, { source: 'github' });
    await waitFor(async () => (await fx.events(id)).some((e) => e.kind === 'log' && e.text === 'holding for the test'), {
      timeoutMs: 20_000,
      what: 'the agent to hold',
    });
    const [sandbox] = target.sandboxes(id);
    expect(sandbox?.running).toBe(true);

    await first.close();
    // handed over: the sandbox runs on, and so does the task
    expect(logged(fx, 'task handed over', id)).toHaveLength(1);
    expect(target.sandboxes(id)).toMatchObject([{ id: sandbox?.id, running: true, stopRequests: 0 }]);
    expect((await fx.store.get(id))?.state).toBe('running');

    const next = await fx.startAnother();
    const attached = await waitFor(() => logged(fx, 'sandbox attached', id)[0], { timeoutMs: 15_000, what: 'the next dispatcher to re-attach' });
    expect(attached).toMatchObject({ sandboxId: sandbox?.id });
    expect(attached.afterLine).toEqual(expect.any(Number));
    await release(id);

    const task = await finished(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.sandboxId).toBe(sandbox?.id);
    expect(fake.pulls.some((p) => p.head === task.branch && p.draft)).toBe(true);
    expect(await next.registry.metrics()).toMatch(/agentq_dispatcher_sandboxes_attached_total\{service="dispatcher"\} 1/);

    // one sandbox, whose output was read up to the hand-over by one dispatcher and after it by the other
    expect(target.createRequests(id)).toBe(1);
    expect(target.sandboxes(id)).toHaveLength(1);
    const events = await fx.events(id);
    expectContiguous(events);
    expectLinesOnce(events);
    const lines = events.filter((e) => e.line !== undefined).map((e) => e.line as number);
    const afterLine = attached.afterLine as number;
    expect(lines.some((line) => line <= afterLine)).toBe(true);
    expect(lines.some((line) => line > afterLine)).toBe(true);
    const logs = logTexts(events);
    for (const text of ['setup-ok-42', 'holding for the test', 'released by the test']) expect(logs.filter((t) => t === text)).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'agent.message')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'agent.result')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'step' && e.step === 'sandbox')).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'succeeded' });
  }, 45_000);

  it('cancels a running task: the task ends canceled and its sandbox is terminated', async () => {
    const id = await fx.submit({ repo: REPO, prompt: `add NOTES.md ${HOLD}` }, { source: 'github' });
    await waitFor(async () => (await fx.events(id)).some((e) => e.kind === 'log' && e.text === 'holding for the test'), {
      timeoutMs: 20_000,
      what: 'the agent to hold',
    });
    const [running] = target.sandboxes(id);
    expect(running?.running).toBe(true);
    const pulls = fake.pulls.length;

    await fx.cancel(id);
    const task = await finished(id);
    expect(task.state).toBe('canceled');
    expect(fake.pulls.length).toBe(pulls);
    expect((await fx.events(id)).at(-1)).toMatchObject({ kind: 'task.state', state: 'canceled' });

    // terminated from outside, as the engine / the SDK saw it, and nothing of it runs any more
    const sandboxes = target.sandboxes(id);
    expect(sandboxes).toHaveLength(1);
    expect(sandboxes[0]).toMatchObject({ id: running?.id, running: false });
    expect(sandboxes[0]?.stopRequests).toBeGreaterThan(0);
    expect(sandboxes[0]?.exitCode).not.toBe(0);
    expect(running?.pid).toBeGreaterThan(1);
    await waitGroupGone(running?.pid as number);
    // the agent never got past its hold
    expect(logTexts(await fx.events(id))).not.toContain('released by the test');
  }, 30_000);
});
