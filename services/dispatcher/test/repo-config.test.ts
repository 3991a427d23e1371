import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { git, type AgentEvent } from '@agentq/shared';
import { FakeGitHub, GitHttpServer, generateAppKeyPair, makeTempDir, startTestRedis, waitFor, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDispatcher, type Dispatcher } from '../src/dispatcher.js';
import { LocalSandboxProvider } from '../src/providers/local/local-provider.js';
import type { SandboxHandle, SandboxInfo, SandboxProvider, SandboxSpec } from '../src/providers/sandbox-provider.js';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';

/**
 * The local provider, with every `create` and `attach` written down: what the dispatcher asks of a
 * provider is what is looked at, the sandboxes are real.
 */
class RecordingProvider implements SandboxProvider {
  readonly name: string;
  readonly created: SandboxSpec[] = [];
  readonly attached: string[] = [];

  constructor(private readonly inner: SandboxProvider) {
    this.name = inner.name;
  }

  create(spec: SandboxSpec): Promise<SandboxHandle> {
    this.created.push(spec);
    return this.inner.create(spec);
  }

  attach(sandboxId: string): Promise<SandboxHandle | undefined> {
    this.attached.push(sandboxId);
    return this.inner.attach(sandboxId);
  }

  list(tags: Record<string, string>): Promise<SandboxInfo[]> {
    return this.inner.list(tags);
  }

  remove(sandboxId: string): Promise<void> {
    return this.inner.remove(sandboxId);
  }

  specOf(taskId: string): SandboxSpec[] {
    return this.created.filter((s) => s.taskId === taskId);
  }
}

/**
 * The `command` harness's agent: says which model and turn limit it got, whether a setup command's
 * file is there (copying it, so the commit shows the agent saw it), waits for `../go` when asked to,
 * then reports a result.
 */
const AGENT_SCRIPT = `#!/usr/bin/env bash
echo "model=\${AGENTQ_MODEL:-none} turns=$AGENTQ_MAX_TURNS"
if [[ -f built.txt ]]; then echo "saw $(cat built.txt)"; cp built.txt seen-by-agent.txt; fi
if [[ "$AGENTQ_PROMPT" == *wait* ]]; then
  echo "waiting for go"
  for _ in $(seq 1 400); do [[ -f ../go ]] && break; sleep 0.05; done
  echo '{"type":"system","subtype":"init","session_id":"cmd-session-2","model":"m"}'
fi
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"total_cost_usd":0,"result":"done"}'
`;

function logTexts(events: AgentEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'log' ? [e.text] : []));
}

function steps(events: AgentEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'step' ? [e.step] : []));
}

function states(events: AgentEvent[]): string[] {
  return events.flatMap((e) => (e.kind === 'task.state' ? [e.state] : []));
}

describe('per-repository settings (.agentq.yml) with the local forge', () => {
  let redis: TestRedis;
  let fx: DispatcherFixture;
  let provider: RecordingProvider;
  let dispatcher: Dispatcher;
  let tools: Awaited<ReturnType<typeof makeTempDir>>;

  // stalled-job recovery is the safety net of a hand-over: every dispatcher on the queue, the
  // fixture's too, looks with the same short interval
  const worker = { cancelPollMs: 200, lockDurationMs: 5000, stalledIntervalMs: 2000 };
  const start = () => startDispatcher({ config: fx.config, logger: fx.logger, secrets: fx.secrets, provider, worker });

  beforeAll(async () => {
    redis = await startTestRedis();
    tools = await makeTempDir('agentq-repocfg-tools-');
    const agent = join(tools.path, 'agent.sh');
    await writeFile(agent, AGENT_SCRIPT, { mode: 0o755 });
    fx = await startDispatcherFixture(redis.url, { AGENTQ_HARNESS: 'demo', AGENTQ_HARNESS_COMMAND: `bash ${agent}`, AGENTQ_MAX_TURNS: '50' }, worker);
    // the fixture's dispatcher makes way for one whose provider records what it is asked
    await fx.dispatcher.close();
    provider = new RecordingProvider(new LocalSandboxProvider({ dataDir: fx.config.dataDir }));
    dispatcher = await start();
  }, 30_000);

  afterAll(async () => {
    await dispatcher?.close();
    await fx?.close();
    await tools?.remove();
    await redis?.stop();
  });

  it('runs the setup commands before the agent and applies the file\'s defaults, image and domains', async () => {
    const repo = 'acme/setup';
    await fx.forge.seed(repo, {
      'README.md': '# setup\n',
      '.agentq.yml': [
        'image: ghcr.io/acme/agent-sandbox:2',
        'setup:',
        '  - echo built > built.txt',
        '  - echo "to stderr" >&2; echo "[${setup_count-}]" > probe.txt',
        'allowedDomains:',
        '  - registry.npmjs.org',
        '  - "*.pythonhosted.org"',
        'harness: command',
        'model: claude-from-file',
        'maxTurns: 7',
        '',
      ].join('\n'),
    });
    const id = await fx.submit({ repo, prompt: 'use what setup built' });
    const task = await fx.waitFinal(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    // the file's defaults, persisted on the record
    expect(task).toMatchObject({ harness: 'command', model: 'claude-from-file', limits: { maxTurns: 7 } });

    const events = await fx.events(id);
    const logs = logTexts(events);
    expect(logs).toContain('model=claude-from-file turns=7');
    expect(logs).toContain('saw built');
    expect(steps(events)).toEqual(['sandbox', 'clone', 'setup', 'agent', 'commit', 'push']);
    expect(logs).toContain('$ echo built > built.txt');
    expect(logs).toContain('to stderr');
    expect(logs).toContain('setup command 1 of 2 exited with code 0');
    expect(logs).toContain('setup command 2 of 2 exited with code 0');
    expect(logs).toContain(
      'settings from .agentq.yml at the default branch: image ghcr.io/acme/agent-sandbox:2; setup: 1. echo built > built.txt ' +
        '2. echo "to stderr" >&2; echo "[${setup_count-}]" > probe.txt; allowed domains registry.npmjs.org, *.pythonhosted.org; ' +
        'harness command; model claude-from-file; max turns 7',
    );
    // the setup ran before the agent, in the working tree, its files committed with the agent's
    const show = async (path: string) => (await git(['show', `${task.branch}:${path}`], { cwd: fx.forge.path(repo) })).stdout;
    expect(await show('built.txt')).toBe('built\n');
    expect(await show('seen-by-agent.txt')).toBe('built\n');
    // a command runs in a shell of its own: the run script's variables are not there
    expect(await show('probe.txt')).toBe('[]\n');

    const [spec, ...more] = provider.specOf(id);
    expect(more).toHaveLength(0);
    expect(spec?.image).toBe('ghcr.io/acme/agent-sandbox:2');
    expect(spec?.allowedDomains).toEqual(['registry.npmjs.org', '*.pythonhosted.org']);
    expect(spec?.env).toMatchObject({ AGENTQ_SETUP_COUNT: '2', AGENTQ_SETUP_0: 'echo built > built.txt' });
  }, 30_000);

  it('lets the task\'s own harness, model and turn limit win over the file', async () => {
    const repo = 'acme/precedence';
    await fx.forge.seed(repo, { '.agentq.yml': 'harness: demo\nmodel: claude-from-file\nmaxTurns: 7\n' });
    const id = await fx.submit({ repo, prompt: 'say what you got', harness: 'command', model: 'claude-from-task', limits: { maxTurns: 3 } });
    const task = await fx.waitFinal(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task).toMatchObject({ harness: 'command', model: 'claude-from-task', limits: { maxTurns: 3 } });
    const logs = logTexts(await fx.events(id));
    expect(logs).toContain('model=claude-from-task turns=3');
    expect(logs.find((t) => t.startsWith('settings from .agentq.yml'))).toBe(
      "settings from .agentq.yml at the default branch: harness demo (the task's own command applies); " +
        "model claude-from-file (the task's own claude-from-task applies); max turns 7 (the task's own 3 applies)",
    );
  }, 30_000);

  it('changes nothing without a file: the service\'s defaults apply, no setup step, no image', async () => {
    const repo = 'acme/plain';
    await fx.forge.seed(repo, { 'README.md': '# plain\n' });
    const id = await fx.submit({ repo, prompt: 'say what you got', harness: 'command' });
    const task = await fx.waitFinal(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.model).toBeUndefined();
    expect(task.limits).toBeUndefined();
    const events = await fx.events(id);
    expect(logTexts(events)).toContain('model=none turns=50');
    expect(logTexts(events).some((t) => t.startsWith('settings from'))).toBe(false);
    expect(steps(events)).toEqual(['sandbox', 'clone', 'agent', 'commit']);
    const [spec] = provider.specOf(id);
    expect(spec?.image).toBeUndefined();
    expect(spec?.allowedDomains).toBeUndefined();
    expect(Object.keys(spec?.env ?? {}).filter((k) => k.startsWith('AGENTQ_SETUP'))).toEqual([]);
  }, 30_000);

  it('reads the file at the ref the run starts from, and .agentq.yaml when there is no .agentq.yml', async () => {
    const repo = 'acme/refs';
    await fx.forge.seed(repo, { '.agentq.yaml': 'harness: command\nmaxTurns: 4\n' });
    const work = join(tools.path, 'refs-work');
    execFileSync('git', ['clone', '--quiet', fx.forge.path(repo), work]);
    execFileSync('git', ['checkout', '--quiet', '-b', 'release'], { cwd: work });
    await writeFile(join(work, '.agentq.yml'), 'harness: command\nmaxTurns: 9\n');
    execFileSync('git', ['add', '-A'], { cwd: work });
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'release settings'], { cwd: work });
    execFileSync('git', ['push', '--quiet', 'origin', 'release'], { cwd: work });

    const onMain = await fx.submit({ repo, prompt: 'say what you got' });
    const onRelease = await fx.submit({ repo, prompt: 'say what you got', baseRef: 'release' });
    const main = await fx.waitFinal(onMain);
    const release = await fx.waitFinal(onRelease);
    expect(main.state, JSON.stringify(main.error)).toBe('succeeded');
    expect(release.state, JSON.stringify(release.error)).toBe('succeeded');
    expect(logTexts(await fx.events(onMain))).toEqual(expect.arrayContaining(['model=none turns=4', 'settings from .agentq.yaml at the default branch: harness command; max turns 4']));
    expect(logTexts(await fx.events(onRelease))).toEqual(expect.arrayContaining(['model=none turns=9', 'settings from .agentq.yml at release: harness command; max turns 9']));
  }, 30_000);

  it('fails the task with DISPATCH_SETUP_FAILED when a setup command fails; the agent never runs', async () => {
    const repo = 'acme/broken-setup';
    await fx.forge.seed(repo, { '.agentq.yml': 'setup:\n  - echo one\n  - echo "no such target" >&2; exit 3\n  - touch never.txt\nharness: command\n' });
    const id = await fx.submit({ repo, prompt: 'never reached' });
    const task = await fx.waitFinal(id);
    expect(task.state).toBe('failed');
    expect(task.error?.code).toBe('DISPATCH_SETUP_FAILED');
    expect(task.error?.message).toMatch(/^setup command 2 of 3 failed with exit code 3: /);
    expect(task.error?.message).toContain('no such target');
    expect(task.branch).toBeUndefined();
    const events = await fx.events(id);
    expect(steps(events)).toEqual(['sandbox', 'clone', 'setup']);
    expect(logTexts(events)).toContain('setup command 2 of 3 exited with code 3');
    expect(logTexts(events).some((t) => t.startsWith('model='))).toBe(false);
    expect(logTexts(events)).not.toContain('$ touch never.txt');
    expect(events.at(-1)).toMatchObject({ kind: 'task.state', state: 'failed', error: { code: 'DISPATCH_SETUP_FAILED' } });
  }, 30_000);

  it('fails a task whose file is invalid with DISPATCH_REPO_CONFIG_INVALID, before any sandbox', async () => {
    const repo = 'acme/invalid';
    await fx.forge.seed(repo, { '.agentq.yml': 'setup:\n  - npm ci\n  - 42\nimagee: ghcr.io/acme/x\nmaxTurns: 5000\n' });
    const id = await fx.submit({ repo, prompt: 'never reached' });
    const task = await fx.waitFinal(id);
    expect(task.state).toBe('failed');
    expect(task.error?.code).toBe('DISPATCH_REPO_CONFIG_INVALID');
    const message = task.error?.message ?? '';
    expect(message.split('\n').sort()).toEqual([
      '.agentq.yml: imagee: unknown setting (known: image, setup, allowedDomains, harness, model, maxTurns, autofix)',
      '.agentq.yml: maxTurns: must be at most 1000',
      '.agentq.yml: setup[1]: expected a string',
    ]);
    const events = await fx.events(id);
    expect(events.some((e) => e.kind === 'log' && e.stream === 'system' && e.text === message)).toBe(true);
    expect(states(events)).toEqual(['queued', 'starting', 'failed']);
    expect(steps(events)).toEqual([]);
    expect(provider.specOf(id)).toEqual([]);
    expect(existsSync(join(fx.dataDir, 'sandboxes', id))).toBe(false);

    const notYaml = 'acme/not-yaml';
    await fx.forge.seed(notYaml, { '.agentq.yml': 'setup:\n\t- npm ci\n' });
    const other = await fx.waitFinal(await fx.submit({ repo: notYaml, prompt: 'never reached' }));
    expect(other.error?.code).toBe('DISPATCH_REPO_CONFIG_INVALID');
    expect(other.error?.message).toMatch(/^\.agentq\.yml: not valid YAML: /);
    expect(provider.specOf(other.id)).toEqual([]);
  }, 30_000);

  it('keeps the resolved harness for a dispatcher that re-attaches, without reading the file again', async () => {
    const repo = 'acme/reattach';
    await fx.forge.seed(repo, { '.agentq.yml': 'harness: command\n' });
    const id = await fx.submit({ repo, prompt: 'wait for the hand-over' });
    await waitFor(async () => logTexts(await fx.events(id)).includes('waiting for go'), { timeoutMs: 15_000, what: 'the agent to wait' });
    await dispatcher.close();
    expect((await fx.store.get(id))?.state).toBe('running');
    // the file is broken meanwhile: read again, it would fail the task
    const work = join(tools.path, 'reattach-work');
    execFileSync('git', ['clone', '--quiet', fx.forge.path(repo), work]);
    await writeFile(join(work, '.agentq.yml'), 'harness: [broken\n');
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-am', 'break the settings'], { cwd: work });
    execFileSync('git', ['push', '--quiet', 'origin', 'main'], { cwd: work });

    // its default harness is demo: only the record says command
    dispatcher = await start();
    await writeFile(join(fx.dataDir, 'sandboxes', id, 'go'), '');
    const task = await fx.waitFinal(id, 30_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; dispatcher logs:\n${fx.logs.join('').slice(-4000)}`);
    });
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    expect(task.harness).toBe('command');
    expect(provider.specOf(id)).toHaveLength(1);
    expect(provider.attached).toContain(id);
    // the init line came after the hand-over: the new dispatcher read it with the command harness
    expect((await fx.events(id)).find((e) => e.kind === 'agent.init')).toMatchObject({ harness: 'command', sessionId: 'cmd-session-2' });
  }, 60_000);
});

describe('per-repository settings with a GitHub App', () => {
  const REPO = 'octo/gadgets';
  let redis: TestRedis;
  let fake: FakeGitHub;
  let gitServer: GitHttpServer;
  let root: Awaited<ReturnType<typeof makeTempDir>>;
  let fx: DispatcherFixture;
  let provider: RecordingProvider;
  let dispatcher: Dispatcher;
  let work: string;

  const commit = (files: Record<string, string>, message: string) => async () => {
    for (const [name, content] of Object.entries(files)) await writeFile(join(work, name), content);
    execFileSync('git', ['add', '-A'], { cwd: work });
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', message], { cwd: work });
  };

  beforeAll(async () => {
    redis = await startTestRedis();
    root = await makeTempDir('agentq-gh-repocfg-');
    const served = join(root.path, 'served');
    const keyPair = generateAppKeyPair();
    fake = await new FakeGitHub({ appId: 4243, publicKey: keyPair.publicKey, installations: { [REPO]: 78 }, repositories: served }).start();
    work = join(root.path, 'work');
    await mkdir(work);
    execFileSync('git', ['init', '--quiet', '-b', 'main'], { cwd: work });
    await commit({ 'README.md': '# gadgets\n', '.agentq.yml': 'setup:\n  - echo from-github > built.txt\nallowedDomains: [pypi.org]\n' }, 'initial')();
    execFileSync('git', ['checkout', '--quiet', '-b', 'broken'], { cwd: work });
    await commit({ '.agentq.yml': 'maxTurns: many\n' }, 'broken settings')();
    execFileSync('git', ['checkout', '--quiet', '-b', 'plain', 'main'], { cwd: work });
    execFileSync('git', ['rm', '--quiet', '.agentq.yml'], { cwd: work });
    await commit({}, 'no settings')();
    execFileSync('git', ['checkout', '--quiet', 'main'], { cwd: work });
    await mkdir(join(served, 'octo'), { recursive: true });
    execFileSync('git', ['clone', '--quiet', '--bare', work, join(served, 'octo', 'gadgets.git')]);
    gitServer = await new GitHttpServer({ root: served, authorize: (_user, password, repo) => fake.isValidToken(password, repo) }).start();
    fx = await startDispatcherFixture(redis.url, {
      GITHUB_APP_ID: '4243',
      GITHUB_APP_PRIVATE_KEY: keyPair.privateKey,
      GITHUB_API_URL: fake.url,
      GITHUB_GIT_URL: gitServer.url,
    });
    await fx.dispatcher.close();
    provider = new RecordingProvider(new LocalSandboxProvider({ dataDir: fx.config.dataDir }));
    dispatcher = await startDispatcher({ config: fx.config, logger: fx.logger, secrets: fx.secrets, provider, worker: { cancelPollMs: 200 } });
  }, 30_000);

  afterAll(async () => {
    await dispatcher?.close();
    await fx?.close();
    await gitServer?.stop();
    await fake?.stop();
    await root?.remove();
    await redis?.stop();
  });

  it('reads the file through the contents API with the task\'s token, at the base ref', async () => {
    const id = await fx.submit({ repo: REPO, prompt: 'add a CONTRIBUTING.md' }, { source: 'github' });
    const task = await fx.waitFinal(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    const contents = fake.calls.filter((c) => c.path === `/repos/${REPO}/contents/.agentq.yml`);
    expect(contents).toEqual([{ method: 'GET', path: `/repos/${REPO}/contents/.agentq.yml`, status: 200, auth: 'token' }]);
    const [spec] = provider.specOf(id);
    expect(spec?.allowedDomains).toEqual(['pypi.org']);
    expect(spec?.env.AGENTQ_SETUP_0).toBe('echo from-github > built.txt');
    const pull = fake.pulls.find((p) => p.head === task.branch);
    expect(pull).toBeDefined();
    const bare = join(root.path, 'served', 'octo', 'gadgets.git');
    expect((await git(['show', `${task.branch}:built.txt`], { cwd: bare })).stdout).toBe('from-github\n');

    const broken = await fx.waitFinal(await fx.submit({ repo: REPO, prompt: 'add a NOTES.md', baseRef: 'broken' }, { source: 'github' }));
    expect(broken.error).toEqual({ code: 'DISPATCH_REPO_CONFIG_INVALID', message: '.agentq.yml: maxTurns: expected a number' });
    expect(provider.specOf(broken.id)).toEqual([]);
    // looked up at the base ref; .agentq.yaml only when .agentq.yml is not there
    const asked = fake.calls.filter((c) => c.path.includes('/contents/')).map((c) => `${c.path} ${c.status}`);
    expect(asked).toEqual([`/repos/${REPO}/contents/.agentq.yml 200`, `/repos/${REPO}/contents/.agentq.yml 200`]);
  }, 40_000);

  it('runs without settings when the ref has no file (404), and leaves a missing ref to the run', async () => {
    const before = fake.calls.length;
    const id = await fx.submit({ repo: REPO, prompt: 'what is in this repository?', baseRef: 'plain' }, { source: 'github' });
    const task = await fx.waitFinal(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');
    const notFound = [`/repos/${REPO}/contents/.agentq.yml 404`, `/repos/${REPO}/contents/.agentq.yaml 404`];
    expect(fake.calls.slice(before).filter((c) => c.path.includes('/contents/')).map((c) => `${c.path} ${c.status}`)).toEqual(notFound);
    const [spec] = provider.specOf(id);
    expect(spec?.allowedDomains).toBeUndefined();
    expect(spec?.env.AGENTQ_SETUP_COUNT).toBeUndefined();

    const middle = fake.calls.length;
    const missing = await fx.waitFinal(await fx.submit({ repo: REPO, prompt: 'add a NOTES.md', baseRef: 'no-such-ref' }, { source: 'github' }));
    expect(missing.error?.code).toBe('DISPATCH_BASE_REF_NOT_FOUND');
    expect(fake.calls.slice(middle).filter((c) => c.path.includes('/contents/')).map((c) => `${c.path} ${c.status}`)).toEqual(notFound);
  }, 30_000);

  it('serves contents only to a token of the repository', async () => {
    const token = fake.tokenRequests.at(-1)?.token;
    expect(token).toBeDefined();
    const get = (path: string, auth?: string) => fetch(`${fake.url}${path}`, { headers: auth ? { authorization: `Bearer ${auth}` } : {} });
    const ok = await get(`/repos/${REPO}/contents/.agentq.yml?ref=broken`, token);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { type: string; encoding: string; size: number; content: string };
    expect(body).toMatchObject({ type: 'file', encoding: 'base64', size: 15 });
    expect(Buffer.from(body.content, 'base64').toString('utf8')).toBe('maxTurns: many\n');
    expect((await get(`/repos/${REPO}/contents/.agentq.yml`)).status).toBe(401);
    fake.install('octo/other', 78);
    expect((await get('/repos/octo/other/contents/.agentq.yml', token)).status).toBe(403);
  });
});
