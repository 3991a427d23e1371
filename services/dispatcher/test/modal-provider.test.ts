import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { AgentqError, createLogger, loadConfig } from '@agentq/shared';
import { makeTempDir, waitFor } from '@agentq/shared/testing';
import { AlreadyExistsError, InternalFailure, InvalidError, NotFoundError, ResourceExhaustedError, TimeoutError } from 'modal';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { modalError } from '../src/providers/modal/modal-errors.js';
import { createModalProvider, ModalSandboxProvider, type ModalProviderOptions } from '../src/providers/modal/modal-provider.js';
import type { OutputLine, SandboxHandle, SandboxSpec } from '../src/providers/sandbox-provider.js';
import { grpcError, ModalDouble, type DoubleOperation, type ModalDoubleOptions } from './support/modal-double.js';

const SECRET = 'sk-ant-modal-test-secret-4821';
const NAMED_SECRET = 'named-secret-value-7731';
const FILE_SECRET = 'ghs_private_file_token_5519';
const IMAGE = 'registry.example.com/agentq-sandbox:1';

let n = 0;
function spec(script: string, extra: Partial<SandboxSpec> = {}): SandboxSpec {
  const taskId = `mt-${process.pid}-${++n}`;
  return { taskId, command: ['bash', '-c', script], env: {}, secrets: {}, tags: { agentq_task: taskId }, ...extra };
}

async function collect(handle: SandboxHandle, afterLine = 0): Promise<OutputLine[]> {
  const out: OutputLine[] = [];
  for await (const chunk of handle.output(afterLine)) out.push(...chunk);
  return out;
}

async function firstLine(handle: SandboxHandle): Promise<string | undefined> {
  for await (const chunk of handle.output(0)) return chunk[0]?.text;
  return undefined;
}

describe('modal sandbox provider (against the SDK double)', () => {
  let tmp: { path: string; remove: () => Promise<void> };
  let root: string;
  let double: ModalDouble;
  let doubles: ModalDouble[];
  let provider: ModalSandboxProvider;
  let logs: string[];

  const make = (options: Partial<ModalProviderOptions> = {}, doubleOptions: Partial<ModalDoubleOptions> = {}) => {
    double = new ModalDouble({
      dir: join(tmp.path, 'sandboxes'),
      privatePaths: [root],
      secrets: { 'shared-creds': { AGENTQ_NAMED_SECRET: NAMED_SECRET } },
      missingImages: ['registry.example.com/missing:1'],
      ...doubleOptions,
    });
    doubles.push(double);
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    provider = new ModalSandboxProvider({
      client: double,
      app: 'agentq-test',
      environment: 'test-env',
      image: IMAGE,
      cpu: 2,
      memoryMiB: 4096,
      secretNames: ['shared-creds'],
      allowedDomains: ['api.anthropic.com', '*.github.com'],
      idleTimeoutMs: 600_000,
      root,
      pollMs: 25,
      graceMs: 2000,
      logger: createLogger({ service: 'dispatcher', level: 'debug', destination }),
      ...options,
    });
    return provider;
  };

  beforeEach(async () => {
    tmp = await makeTempDir('agentq-modal-');
    root = join(tmp.path, 'agentq');
    logs = [];
    doubles = [];
    make();
  });
  afterEach(async () => {
    for (const d of doubles) await d.shutdown();
    await tmp.remove();
  });

  it('creates one sandbox per task: image from the registry, App by name, resources, limits, tags, env and secrets', async () => {
    const s = spec('echo "var=$AGENTQ_RUN_VAR"; echo "secret=$AGENTQ_SECRET"; echo "named=$AGENTQ_NAMED_SECRET"; pwd', {
      env: { AGENTQ_RUN_VAR: 'run value' },
      secrets: { AGENTQ_SECRET: SECRET },
      tags: { agentq_task: 'will-be-replaced', agentq_deployment: 'prod' },
      timeoutMs: 3_723_000,
      allowedDomains: ['registry.npmjs.org', 'api.anthropic.com'],
    });
    s.tags.agentq_task = s.taskId;
    const handle = await provider.create(s);
    expect(handle.provider).toBe('modal');

    expect(double.appLookups).toEqual([{ name: 'agentq-test', params: { createIfMissing: true, environment: 'test-env' } }]);
    expect(double.imageTags).toEqual([IMAGE]);
    expect(double.ephemeralSecrets).toEqual([{ entries: { AGENTQ_SECRET: SECRET }, params: { environment: 'test-env' } }]);
    expect(double.secretLookups).toEqual([{ name: 'shared-creds', params: { environment: 'test-env' } }]);
    expect(double.creates).toHaveLength(1);
    const { params, image, sandboxId } = double.creates[0]!;
    expect(sandboxId).toBe(handle.id);
    expect(image).toBe(IMAGE);
    expect(params).toMatchObject({
      name: `agentq-${s.taskId}`,
      cpu: 2,
      memoryMiB: 4096,
      timeoutMs: 3_723_000,
      idleTimeoutMs: 600_000,
      workdir: `${root}/work`,
      env: { AGENTQ_RUN_VAR: 'run value' },
      tags: { agentq_task: s.taskId, agentq_deployment: 'prod' },
      outboundDomainAllowlist: ['api.anthropic.com', '*.github.com', 'registry.npmjs.org'],
    });
    // the ephemeral secret first, then the named ones
    expect(params.secrets?.map((secret) => secret.name)).toEqual([undefined, 'shared-creds']);
    // the entrypoint wraps the command; the secret is in no argument and not in env
    expect(params.command?.slice(0, 2)).toEqual(['bash', '-c']);
    expect(params.command?.slice(3)).toEqual(['agentq-sandbox', root, ...s.command]);
    expect(JSON.stringify(params.command)).not.toContain(SECRET);
    expect(JSON.stringify(params.env)).not.toContain(SECRET);

    const lines = (await collect(handle)).map((l) => l.text);
    expect(lines.slice(0, 3)).toEqual(['var=run value', `secret=${SECRET}`, `named=${NAMED_SECRET}`]);
    expect(lines[3]).toMatch(new RegExp(`${root}/work$`));
    expect(await handle.wait()).toEqual({ state: 'exited', exitCode: 0 });

    // a second task: the App is not looked up again; the spec's image wins
    const other = await provider.create(spec('true', { image: 'ghcr.io/acme/other:2' }));
    expect(double.appLookups).toHaveLength(1);
    expect(double.imageTags).toEqual([IMAGE, 'ghcr.io/acme/other:2']);
    expect(double.creates[1]?.params.timeoutMs).toBe(24 * 3600 * 1000);
    await other.release();

    expect(logs.join('')).toContain('sandbox created');
    expect(logs.join('')).not.toContain(SECRET);
  });

  it('sets no outbound allowlist when no domains are configured, no ephemeral secret without secrets, no idle timeout unless configured', async () => {
    make({ allowedDomains: undefined, idleTimeoutMs: undefined, secretNames: [] });
    const handle = await provider.create(spec('true', { allowedDomains: ['registry.npmjs.org'] }));
    const { params } = double.creates[0]!;
    expect(params.outboundDomainAllowlist).toBeUndefined();
    expect(params.idleTimeoutMs).toBeUndefined();
    expect(params.secrets).toEqual([]);
    expect(double.ephemeralSecrets).toEqual([]);
    expect(double.secretLookups).toEqual([]);
    await handle.release();
  });

  it('refuses inheritance and bad specs before it creates anything', async () => {
    const cases: [Partial<SandboxSpec>, string][] = [
      [{ inherit: { sandboxId: 'sb-earlier', homePaths: ['.claude'] } }, 'DISPATCH_INHERIT_UNAVAILABLE'],
      [{ files: { '../escape': 'x' } }, 'DISPATCH_BAD_SANDBOX_SPEC'],
      [{ files: { 'token.tmp': 'x' } }, 'DISPATCH_BAD_SANDBOX_SPEC'],
      [{ allowedDomains: ['not a domain'] }, 'DISPATCH_BAD_SANDBOX_SPEC'],
      [{ command: [] }, 'DISPATCH_BAD_SANDBOX_SPEC'],
      [{ taskId: 'bad/id' }, 'DISPATCH_BAD_SANDBOX_ID'],
    ];
    for (const [extra, code] of cases) {
      await expect(provider.create(spec('true', extra))).rejects.toMatchObject({ code });
    }
    expect(double.appLookups).toEqual([]);
    expect(double.creates).toEqual([]);
  });

  it('passes the configured agent user to the run script in the sandbox\'s environment', async () => {
    const withUser = make({ agentUser: '1000:1000' });
    const handle = await withUser.create(spec('echo "agent user ${AGENTQ_AGENT_USER-unset} $AGENTQ_RUN_VAR"', { env: { AGENTQ_RUN_VAR: 'x' } }));
    expect(double.creates[0]?.params.env).toEqual({ AGENTQ_RUN_VAR: 'x', AGENTQ_AGENT_USER: '1000:1000' });
    expect((await collect(handle)).map((l) => l.text)).toEqual(['agent user 1000:1000 x']);
    const without = make({ agentUser: undefined });
    const plain = await without.create(spec('echo "agent user ${AGENTQ_AGENT_USER-unset}"'));
    expect(double.creates[0]?.params.env).toEqual({});
    expect((await collect(plain)).map((l) => l.text)).toEqual(['agent user unset']);
  });

  it('writes private files through an exec reading stdin (mode 600), never on a command line or in the environment', async () => {
    const handle = await provider.create(spec('cat token; echo; stat -c %a token', { files: { token: FILE_SECRET } }));
    expect((await collect(handle)).map((l) => l.text)).toEqual([FILE_SECRET, '600']);
    const path = double.mapPath(handle.id, `${root}/work/token`);
    expect(await readFile(path, 'utf8')).toBe(FILE_SECRET);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await handle.writeFile?.('token', 'replaced-value');
    expect(await handle.readFile?.('token')).toBe('replaced-value');
    expect(await handle.readFile?.('absent')).toBeUndefined();
    await expect(handle.readFile?.('../outside')).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_SPEC' });
    expect(JSON.stringify(double.execs)).not.toContain(FILE_SECRET);
    expect(JSON.stringify(double.creates)).not.toContain(FILE_SECRET);
    expect(logs.join('')).not.toContain(FILE_SECRET);
  });

  it('terminates the sandbox when preparing it fails after it was created', async () => {
    double.failNext('sandbox.exec', grpcError(14, 'connection reset'));
    const s = spec('echo never');
    await expect(provider.create(s)).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });
    const made = double.made.get(double.creates[0]!.sandboxId!)!;
    expect(made.terminateCalls).toBe(1);
    await waitFor(() => made.exitCode !== null, { what: 'the sandbox to end' });
    expect(double.running()).toEqual([]);
    expect(logs.join('')).toContain('sandbox preparation failed, terminating it');
    // its name is free again: the task can be tried again
    const again = await provider.create(s);
    expect(await collect(again)).toEqual([{ line: 1, text: 'never' }]);
  });

  it('maps the SDK errors of a failed creation to stable codes, without secret values in the message', async () => {
    const cases: [DoubleOperation, unknown, string][] = [
      ['sandboxes.create', new AlreadyExistsError('Sandbox with name already exists'), 'DISPATCH_SANDBOX_EXISTS'],
      ['sandboxes.create', grpcError(14, 'upstream connect error'), 'DISPATCH_PROVIDER_UNAVAILABLE'],
      ['sandboxes.create', grpcError(8, 'rate limit exceeded'), 'DISPATCH_PROVIDER_UNAVAILABLE'],
      ['sandboxes.create', new ResourceExhaustedError('Insufficient capacity to create sandbox.'), 'DISPATCH_PROVIDER_UNAVAILABLE'],
      ['sandboxes.create', new InternalFailure('Internal failure'), 'DISPATCH_PROVIDER_UNAVAILABLE'],
      ['sandboxes.create', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:443'), { code: 'ECONNREFUSED' }), 'DISPATCH_PROVIDER_UNAVAILABLE'],
      ['sandboxes.create', new InvalidError(`Invalid env value ${SECRET}`), 'DISPATCH_SANDBOX_FAILED'],
      ['apps.fromName', grpcError(14, 'unavailable'), 'DISPATCH_PROVIDER_UNAVAILABLE'],
      ['apps.fromName', new Error('Profile is missing credentials.'), 'DISPATCH_SANDBOX_FAILED'],
      ['images.build', grpcError(13, 'internal'), 'DISPATCH_PROVIDER_UNAVAILABLE'],
      ['secrets.fromName', new NotFoundError("Secret 'shared-creds' not found"), 'DISPATCH_SANDBOX_FAILED'],
      ['secrets.fromObject', grpcError(14, 'unavailable'), 'DISPATCH_PROVIDER_UNAVAILABLE'],
    ];
    for (const [operation, error, code] of cases) {
      make(); // a new provider: nothing looked up yet
      double.failNext(operation, error);
      const err: unknown = await provider.create(spec('true', { secrets: { AGENTQ_SECRET: SECRET } })).catch((e: unknown) => e);
      expect(err, `${operation}: ${String(error)}`).toBeInstanceOf(AgentqError);
      expect((err as AgentqError).code, `${operation}: ${String(error)}`).toBe(code);
      expect((err as AgentqError).message).not.toContain(SECRET);
      expect(double.running()).toEqual([]);
    }
    await expect(provider.create(spec('true', { image: 'registry.example.com/missing:1' }))).rejects.toMatchObject({
      code: 'DISPATCH_IMAGE_NOT_FOUND',
    });
    expect(double.running()).toEqual([]);
    expect(logs.join('')).not.toContain(SECRET);
  });

  it('looks the App up again after a failed lookup', async () => {
    double.failNext('apps.fromName', grpcError(14, 'unavailable'));
    await expect(provider.create(spec('true'))).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });
    const handle = await provider.create(spec('true'));
    expect(double.appLookups).toHaveLength(2);
    await handle.release();
  });

  it('maps errors in one function: instanceof and gRPC codes, never message text', () => {
    expect(modalError(new AlreadyExistsError('x'), 'w').code).toBe('DISPATCH_SANDBOX_EXISTS');
    expect(modalError(grpcError(6, 'x'), 'w').code).toBe('DISPATCH_SANDBOX_EXISTS');
    for (const code of [1, 2, 4, 8, 10, 13, 14]) expect(modalError(grpcError(code, 'x'), 'w').code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    expect(modalError(new TimeoutError('x'), 'w').code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(modalError(new Error('fetch failed', { cause: reset }), 'w').code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    expect(modalError(new Error('Image build for im-1 failed'), 'w', { stage: 'image' }).code).toBe('DISPATCH_IMAGE_NOT_FOUND');
    expect(modalError(grpcError(14, 'x'), 'w', { stage: 'image' }).code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    // a message that merely says "unavailable" or "already exists" changes nothing
    expect(modalError(new Error('service unavailable; already exists'), 'w').code).toBe('DISPATCH_SANDBOX_FAILED');
    expect(modalError(grpcError(16, 'unauthenticated'), 'w').code).toBe('DISPATCH_SANDBOX_FAILED');
    const own = new AgentqError('DISPATCH_BAD_SANDBOX_SPEC', 'bad');
    expect(modalError(own, 'w')).toBe(own);
    const mapped = modalError(new InvalidError(`bad ${SECRET}!`), 'could not create', { secrets: [SECRET, 'abc'] });
    expect(mapped.message).toBe('could not create: bad [REDACTED]!');
    expect(mapped.cause).toBeInstanceOf(InvalidError);
  });

  it('attaches by id; an unknown id gives undefined, also when the SDK resolves ids lazily', async () => {
    const handle = await provider.create(spec('echo hi'));
    const again = await provider.attach(handle.id);
    expect(again?.id).toBe(handle.id);
    expect(await again?.wait()).toEqual({ state: 'exited', exitCode: 0 });
    expect(await provider.attach('sb-unknown123')).toBeUndefined();
    await expect(provider.attach('../etc')).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_ID' });

    double.failNext('sandbox.poll', grpcError(14, 'unavailable'));
    await expect(provider.attach(handle.id)).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });

    make({}, { lazyFromId: true });
    expect(await provider.attach('sb-unknown456')).toBeUndefined();
    // an ended sandbox is still known: its handle says it is gone
    await handle.release();
  });

  it('terminates and verifies it (twice is fine); a sandbox that does not end fails with DISPATCH_TERMINATE_FAILED', async () => {
    make({ graceMs: 300 });
    const stuck = await provider.create(spec('echo started; sleep 60'));
    expect(await firstLine(stuck)).toBe('started');
    double.terminateIgnored = true;
    await expect(stuck.terminate()).rejects.toMatchObject({ code: 'DISPATCH_TERMINATE_FAILED' });
    double.terminateIgnored = false;
    await stuck.terminate();
    await stuck.terminate();
    const made = double.made.get(stuck.id)!;
    expect(made.terminateCalls).toBe(2);
    expect(made.exitCode).toBe(137);
    expect(await stuck.status()).toEqual({ state: 'lost' });

    double.failNext('sandbox.terminate', grpcError(14, 'unavailable'));
    const other = await provider.create(spec('sleep 60'));
    await expect(other.terminate()).rejects.toMatchObject({ code: 'DISPATCH_TERMINATE_FAILED' });
    await other.release();
    expect((await other.status()).state).toBe('lost');
    // remove: terminates what is known, ignores what is not
    await provider.remove(other.id);
    await provider.remove('sb-neverseen');
  });

  it('lists through sandboxes.list by App and tags, with each sandbox tags and status', async () => {
    const a = spec('echo a; sleep 60');
    const b = spec('exit 5');
    const ha = await provider.create(a);
    const hb = await provider.create(b);
    expect(await hb.wait()).toEqual({ state: 'exited', exitCode: 5 });
    expect(await provider.list({ agentq_task: a.taskId })).toEqual([{ id: ha.id, tags: a.tags, status: { state: 'running' } }]);
    expect(await provider.list({ agentq_task: b.taskId })).toEqual([{ id: hb.id, tags: b.tags, status: { state: 'exited', exitCode: 5 } }]);
    const appId = double.creates[0]!.appId;
    expect(double.listCalls[0]).toEqual({ appId, tags: { agentq_task: a.taskId }, environment: 'test-env' });
    await ha.release();
    expect(await provider.list({ agentq_task: a.taskId })).toEqual([]);
    double.failNext('sandboxes.list', grpcError(14, 'unavailable'));
    await expect(provider.list({})).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });
  });

  it('follows the output on after the exec stream breaks, losing and repeating no line', async () => {
    const handle = await provider.create(spec('for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.15; done; printf end'));
    const seen: OutputLine[] = [];
    let broken = false;
    for await (const chunk of handle.output(0)) {
      seen.push(...chunk);
      if (!broken && seen.length >= 2) {
        broken = true;
        double.breakOutputStreams();
      }
    }
    expect(seen).toEqual([...[1, 2, 3, 4, 5, 6].map((i) => ({ line: i, text: `line ${i}` })), { line: 7, text: 'end' }]);
    const follows = double.execs.filter((e) => e.command[3] === 'agentq-follow');
    expect(follows.length).toBeGreaterThanOrEqual(2);
  });

  it('stops reading when the signal aborts', async () => {
    const handle = await provider.create(spec('echo one; sleep 60'));
    const abort = new AbortController();
    const seen: string[] = [];
    const started = Date.now();
    for await (const chunk of handle.output(0, abort.signal)) {
      seen.push(...chunk.map((l) => l.text));
      abort.abort();
    }
    expect(seen).toEqual(['one']);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await handle.status()).toEqual({ state: 'running' });
  });

  it('keeps an exit code it read; after termination, output ends (a handle replays what it read)', async () => {
    const handle = await provider.create(spec('echo done; exit 3'));
    expect(await collect(handle)).toEqual([{ line: 1, text: 'done' }]);
    expect(await handle.wait()).toEqual({ state: 'exited', exitCode: 3 });
    await handle.release();
    expect(await handle.status()).toEqual({ state: 'exited', exitCode: 3 });
    expect(await collect(handle)).toEqual([{ line: 1, text: 'done' }]);
    expect(await collect(handle, 1)).toEqual([]);
    // a new handle knows neither: the sandbox is gone without an exit code it could read
    const fresh = await provider.attach(handle.id);
    expect(await fresh?.status()).toEqual({ state: 'lost' });
    expect(await collect(fresh as SandboxHandle)).toEqual([]);
  });

  it('ends the output of a sandbox terminated elsewhere', async () => {
    const handle = await provider.create(spec('echo started; sleep 60'));
    const other = (await provider.attach(handle.id)) as SandboxHandle;
    const reading = other.output(0)[Symbol.asyncIterator]();
    const first = await reading.next();
    expect(first).toEqual({ done: false, value: [{ line: 1, text: 'started' }] });
    await handle.terminate();
    expect(await reading.next()).toEqual({ done: true, value: undefined });
    expect(await other.status()).toEqual({ state: 'lost' });
  });

  it('runs a command beside the main one, in its working directory', async () => {
    const handle = await provider.create(spec('sleep 60'));
    const result = await handle.exec?.(['bash', '-c', 'pwd; echo oops >&2; exit 4']);
    expect(result?.exitCode).toBe(4);
    expect(result?.stderr).toBe('oops\n');
    expect(result?.stdout).toMatch(new RegExp(`${root}/work\\n$`));
    await handle.release();
    await expect(handle.exec?.(['true'])).rejects.toMatchObject({ code: 'DISPATCH_SANDBOX_FAILED' });
  });
});

describe('createModalProvider', () => {
  it('builds the provider from the configuration (sandbox settings, Modal App, environment, Secrets), no token in its settings', async () => {
    const config = loadConfig({
      AGENTQ_SANDBOX_PROVIDER: 'modal',
      MODAL_TOKEN_ID: 'ak-test-token-id',
      MODAL_TOKEN_SECRET: 'as-test-token-secret',
      AGENTQ_MODAL_APP: 'agentq-prod',
      AGENTQ_MODAL_ENVIRONMENT: 'main',
      AGENTQ_MODAL_SECRETS: 'anthropic,github',
      AGENTQ_MODAL_IDLE_TIMEOUT_SEC: '900',
      AGENTQ_SANDBOX_IMAGE: 'ghcr.io/acme/agentq-sandbox:3',
      AGENTQ_SANDBOX_CPU: '1.5',
      AGENTQ_SANDBOX_MEMORY_MB: '3072',
      AGENTQ_SANDBOX_ALLOWED_DOMAINS: 'api.anthropic.com,*.github.com',
    });
    const provider = createModalProvider(config, createLogger({ service: 'dispatcher', level: 'silent', destination: new Writable({ write: (_c, _e, done) => done() }) }));
    expect(provider.name).toBe('modal');
    expect(provider.settings).toEqual({
      app: 'agentq-prod',
      environment: 'main',
      image: 'ghcr.io/acme/agentq-sandbox:3',
      cpu: 1.5,
      memoryMiB: 3072,
      agentUser: '1000:1000',
      secretNames: ['anthropic', 'github'],
      allowedDomains: ['api.anthropic.com', '*.github.com'],
      idleTimeoutMs: 900_000,
      root: '/agentq',
      pollMs: 1000,
      graceMs: 30_000,
    });
    expect(JSON.stringify(provider.settings)).not.toContain('as-test-token-secret');
    await provider.close();
  });
});
