import { stat } from 'node:fs/promises';
import { AgentqError, createLogger, loadConfig, type Logger } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import Dockerode from 'dockerode';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dockerError } from '../src/providers/docker/docker-errors.js';
import { ENTRYPOINT, HOME_DIR, MARKER_LABEL, WORK_DIR } from '../src/providers/docker/docker-layout.js';
import { FrameDecoder, LineSplitter } from '../src/providers/docker/docker-logs.js';
import { resolveOwner } from '../src/providers/docker/docker-owner.js';
import { DockerSandboxProvider, createDockerProvider, dockerClientOptions, type DockerProviderOptions } from '../src/providers/docker/docker-provider.js';
import type { OutputLine, SandboxHandle, SandboxSpec } from '../src/providers/sandbox-provider.js';
import { FakeDockerEngine, encodeFrame, type FakeCall } from './support/fake-docker-engine.js';

const IMAGE = 'agentq-sandbox:test';
const SECRET = 'sk-docker-test-secret-0123456789';

function spec(taskId: string, script: string, extra: Partial<SandboxSpec> = {}): SandboxSpec {
  return { taskId, command: ['bash', '-c', script], env: {}, secrets: {}, tags: { agentq_task: taskId }, ...extra };
}

async function collect(handle: SandboxHandle, afterLine = 0): Promise<OutputLine[]> {
  const out: OutputLine[] = [];
  for await (const chunk of handle.output(afterLine)) out.push(...chunk);
  return out;
}

function texts(lines: OutputLine[]): string[] {
  return lines.map((l) => l.text);
}

async function rejection(promise: Promise<unknown>): Promise<AgentqError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AgentqError) return err;
    throw err;
  }
  throw new Error('expected a rejection');
}

/** A logger whose lines are kept, to check what reaches the logs. */
function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ service: 'dispatcher-test', level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines };
}

describe('docker multiplexed stream decoding', () => {
  const frames = Buffer.concat([
    encodeFrame(1, Buffer.from('first line\nsecond ')),
    encodeFrame(2, Buffer.from('half\r\n')),
    encodeFrame(1, Buffer.from('héllo wörld ✓\nno newline')),
  ]);

  function decodeAll(chunks: Buffer[]): { lines: string[]; streams: number[]; last: string | undefined } {
    const decoder = new FrameDecoder();
    const splitter = new LineSplitter();
    const lines: string[] = [];
    const streams: number[] = [];
    for (const chunk of chunks) {
      for (const frame of decoder.push(chunk)) {
        streams.push(frame.stream);
        lines.push(...splitter.push(frame.payload));
      }
    }
    expect(decoder.pending).toBe(0);
    return { lines, streams, last: splitter.end() };
  }

  it('gives the same lines however the bytes are cut into chunks, also inside headers and characters', () => {
    const whole = decodeAll([frames]);
    expect(whole).toEqual({ lines: ['first line', 'second half', 'héllo wörld ✓'], streams: [1, 2, 1], last: 'no newline' });
    const bytewise = decodeAll([...frames].map((b) => Buffer.from([b])));
    expect(bytewise).toEqual(whole);
    for (const cut of [3, 8, 9, 20, 30, 41]) {
      expect(decodeAll([frames.subarray(0, cut), frames.subarray(cut)])).toEqual(whole);
    }
  });

  it('holds back an incomplete frame, and keeps empty lines and empty frames', () => {
    const decoder = new FrameDecoder();
    const frame = encodeFrame(1, Buffer.from('a\n\nb\n'));
    expect(decoder.push(frame.subarray(0, 10))).toEqual([]);
    expect(decoder.pending).toBe(10);
    const [decoded] = decoder.push(Buffer.concat([frame.subarray(10), encodeFrame(1, Buffer.alloc(0))]));
    expect(decoder.pending).toBe(0);
    expect(new LineSplitter().push(decoded?.payload ?? Buffer.alloc(0))).toEqual(['a', '', 'b']);
  });

  it('refuses bytes that are not a multiplexed stream (a TTY container)', () => {
    expect(() => new FrameDecoder().push(Buffer.from('plain text output\n'))).toThrow(expect.objectContaining({ code: 'DISPATCH_SANDBOX_FAILED' }));
  });
});

describe('docker engine error mapping', () => {
  const engineError = (status: number, message: string) => Object.assign(new Error(`(HTTP code ${status}) - ${message}`), { statusCode: status, json: { message } });
  const socketError = (code: string) => Object.assign(new Error(`connect ${code}`), { code });

  it('maps each failure to its stable code', () => {
    expect(dockerError(socketError('ECONNREFUSED'), 'create', 'x').code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    expect(dockerError(socketError('ENOENT'), 'other', 'x').code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    expect(dockerError(engineError(500, 'boom'), 'create', 'x').code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    expect(dockerError(engineError(503, 'busy'), 'image', 'x').code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    expect(dockerError(engineError(429, 'slow down'), 'image', 'x').code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    expect(dockerError(engineError(409, 'Conflict.'), 'create', 'x').code).toBe('DISPATCH_SANDBOX_EXISTS');
    expect(dockerError(engineError(409, 'not running'), 'other', 'x').code).toBe('DISPATCH_SANDBOX_FAILED');
    // at creation the image was just found: a 404 names the network or another setting
    expect(dockerError(engineError(404, 'network agentq-egress not found'), 'create', 'x').code).toBe('DISPATCH_SANDBOX_FAILED');
    expect(dockerError(engineError(404, 'pull access denied'), 'image', 'x').code).toBe('DISPATCH_IMAGE_NOT_FOUND');
    expect(dockerError(engineError(400, 'invalid reference format'), 'image', 'x').code).toBe('DISPATCH_IMAGE_NOT_FOUND');
    expect(dockerError(engineError(404, 'No such container'), 'other', 'x').code).toBe('DISPATCH_SANDBOX_FAILED');
    expect(dockerError(engineError(400, 'bad'), 'create', 'x').code).toBe('DISPATCH_SANDBOX_FAILED');
    expect(dockerError(new Error('odd'), 'other', 'x').code).toBe('DISPATCH_SANDBOX_FAILED');
    const own = new AgentqError('DISPATCH_INHERIT_UNAVAILABLE', 'gone');
    expect(dockerError(own, 'create', 'x')).toBe(own);
  });

  it('says what failed and what the engine said, without the values it is told to hide', () => {
    const err = dockerError(engineError(500, `cannot set env ${SECRET}`), 'create', 'could not create the sandbox of t1', [SECRET]);
    expect(err.message).toContain('could not create the sandbox of t1');
    expect(err.message).toContain('500');
    expect(err.message).not.toContain(SECRET);
    // a streamed answer has no parsed body: dockerode's wording around the message is dropped
    const pull = dockerError(Object.assign(new Error('(HTTP code 500) server error - Get "https://r.example/v2/": no such host '), { statusCode: 500 }), 'image', 'could not pull');
    expect(pull.message).toBe('could not pull: the Docker engine answered 500: Get "https://r.example/v2/": no such host');
  });
});

describe('docker image user', () => {
  const passwd = 'root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/bash\nagent:x:1001:2000::/home/agent:/bin/sh\n';
  const group = 'root:x:0:\nnode:x:1000:\nstaff:x:50:\n';

  it('resolves the uid and gid of a container user from the image\'s passwd and group files', () => {
    expect(resolveOwner(undefined, passwd, group)).toEqual({ uid: 0, gid: 0 });
    expect(resolveOwner('agent', passwd, group)).toEqual({ uid: 1001, gid: 2000 });
    expect(resolveOwner('node:staff', passwd, group)).toEqual({ uid: 1000, gid: 50 });
    expect(resolveOwner('1001', passwd, group)).toEqual({ uid: 1001, gid: 2000 });
    expect(resolveOwner('4242', passwd, group)).toEqual({ uid: 4242, gid: 0 });
    expect(resolveOwner('agent:7', passwd, group)).toEqual({ uid: 1001, gid: 7 });
    expect(() => resolveOwner('ghost', passwd, group)).toThrow(expect.objectContaining({ code: 'DISPATCH_SANDBOX_FAILED' }));
    expect(() => resolveOwner('node:nogroup', passwd, group)).toThrow(expect.objectContaining({ code: 'DISPATCH_SANDBOX_FAILED' }));
  });
});

describe('docker engine address', () => {
  it('turns AGENTQ_DOCKER_HOST into dockerode options', () => {
    expect(dockerClientOptions(undefined)).toBeUndefined();
    expect(dockerClientOptions('unix:///run/user/1000/docker.sock')).toMatchObject({ socketPath: '/run/user/1000/docker.sock', host: undefined });
    expect(dockerClientOptions('tcp://10.0.0.5:2375')).toEqual({ host: '10.0.0.5', port: 2375, protocol: 'http' });
    expect(dockerClientOptions('http://docker.internal')).toEqual({ host: 'docker.internal', port: 2375, protocol: 'http' });
    expect(dockerClientOptions('https://docker.internal')).toEqual({ host: 'docker.internal', port: 2376, protocol: 'https' });
    expect(dockerClientOptions('https://docker.internal:9000')).toEqual({ host: 'docker.internal', port: 9000, protocol: 'https' });
  });
});

describe('docker sandbox provider (fake Engine API)', () => {
  let engine: FakeDockerEngine;
  let docker: Dockerode;
  let logs: string[];
  let logger: Logger;
  const providers: DockerSandboxProvider[] = [];

  const makeProvider = (extra: Partial<DockerProviderOptions> = {}) => {
    const provider = new DockerSandboxProvider({ docker, image: IMAGE, cpu: 1.5, memoryMb: 768, graceMs: 1000, pollMs: 25, logger, ...extra });
    providers.push(provider);
    return provider;
  };
  const calls = (method: string, path: RegExp): FakeCall[] => engine.calls.filter((c) => c.method === method && path.test(c.path));

  beforeEach(async () => {
    engine = await FakeDockerEngine.start({
      images: [IMAGE, 'busybox-root:1'],
      pullable: ['registry.example/team/agent:2'],
      pullErrors: { 'registry.example/team/broken:1': 'failed to register layer: no space left on device' },
      imageUsers: { 'registry.example/team/agent:2': 'agent' },
      imageFiles: { 'registry.example/team/agent:2': { '/etc/passwd': 'root:x:0:0:root:/root:/bin/bash\nagent:x:1000:1001::/home/agent:/bin/bash\n' } },
    });
    docker = engine.client();
    ({ logger, lines: logs } = capturingLogger());
  });
  afterEach(async () => {
    providers.length = 0;
    await engine.close();
  });

  it('creates one container per task: image, wrapper, command, variables, labels, limits and name', async () => {
    const provider = makeProvider({ network: 'agentq-egress' });
    const handle = await provider.create(
      spec('t-create', 'echo "$AGENTQ_VAR $TOKEN_LEN"; echo "home=$HOME"; pwd', {
        env: { AGENTQ_VAR: 'plain', TOKEN_LEN: '32' },
        secrets: { AGENTQ_TEST_SECRET: SECRET },
        tags: { agentq_task: 't-create', agentq_deployment: 'acme' },
      }),
    );
    const [create] = calls('POST', /^\/containers\/create$/);
    expect(create?.query).toEqual({ name: 'agentq-t-create' });
    const body = create?.body as Dockerode.ContainerCreateOptions;
    expect(body.Image).toBe(IMAGE);
    expect(body.Entrypoint).toEqual(ENTRYPOINT);
    expect(body.Cmd).toEqual(['bash', '-c', 'echo "$AGENTQ_VAR $TOKEN_LEN"; echo "home=$HOME"; pwd']);
    expect(body.Env).toEqual(expect.arrayContaining(['AGENTQ_VAR=plain', 'TOKEN_LEN=32', `AGENTQ_TEST_SECRET=${SECRET}`, `HOME=${HOME_DIR}`]));
    expect(body.WorkingDir).toBe(WORK_DIR);
    expect(body.Tty).toBe(false);
    expect(body.Labels).toEqual({ agentq_task: 't-create', agentq_deployment: 'acme', [MARKER_LABEL]: '1' });
    expect(body.HostConfig).toEqual({ NanoCpus: 1_500_000_000, Memory: 768 * 1024 * 1024, NetworkMode: 'agentq-egress', Init: true });
    // the secret travels in the request body only: never in a URL, a label or the name
    expect(engine.calls.filter((c) => c.url.includes(SECRET) || c.url.includes('sk-docker'))).toEqual([]);
    expect(JSON.stringify(body.Labels)).not.toContain(SECRET);

    const host = engine.hostPath(handle.id, HOME_DIR);
    expect(texts(await collect(handle))).toEqual(['plain 32', `home=${host}`, engine.hostPath(handle.id, WORK_DIR)]);
    expect(await handle.wait()).toEqual({ state: 'exited', exitCode: 0 });
    expect(logs.join('')).not.toContain(SECRET);
  });

  it('leaves NetworkMode to the engine when no network is configured, and refuses bad specs before creating anything', async () => {
    const provider = makeProvider();
    await provider.create(spec('t-net', 'true'));
    const body = calls('POST', /^\/containers\/create$/)[0]?.body as Dockerode.ContainerCreateOptions;
    expect(body.HostConfig).not.toHaveProperty('NetworkMode');
    const before = engine.calls.length;
    await expect(provider.create(spec('bad id!', 'true'))).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_SPEC' });
    await expect(provider.create({ ...spec('t-empty', 'true'), command: [] })).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_SPEC' });
    await expect(provider.create(spec('t-tag', 'true', { tags: { [MARKER_LABEL]: '0' } }))).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_SPEC' });
    await expect(provider.create(spec('t-var', 'true', { env: { 'A=B': 'x' } }))).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_SPEC' });
    await expect(provider.create(spec('t-file', 'true', { files: { 'exit-code': 'x' } }))).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_SPEC' });
    await expect(provider.create(spec('t-inh', 'true', { inherit: { sandboxId: 'x', homePaths: ['../etc'] } }))).rejects.toMatchObject({
      code: 'DISPATCH_BAD_SANDBOX_SPEC',
    });
    expect(engine.calls.slice(before)).toEqual([]);
  });

  it('pulls an image the engine does not have, then runs it (its files owned by the image user)', async () => {
    const provider = makeProvider();
    const handle = await provider.create(spec('t-pull', 'echo pulled', { image: 'registry.example/team/agent:2', files: { token: 'tok' } }));
    expect(calls('POST', /^\/images\/create$/).map((c) => c.query)).toEqual([{ fromImage: 'registry.example/team/agent', tag: '2' }]);
    expect(engine.hasImage('registry.example/team/agent:2')).toBe(true);
    expect(texts(await collect(handle))).toEqual(['pulled']);
    // a non-root image user (found in the image's /etc/passwd) owns the files agentq puts in
    const [put] = calls('PUT', /\/archive$/);
    expect(put?.query).toEqual({ path: '/' });
    expect(put?.entries?.map((e) => [e.name, e.uid, e.gid, e.mode])).toEqual([
      ['agentq/', 1000, 1001, 0o755],
      ['agentq/work/', 1000, 1001, 0o755],
      ['agentq/home/', 1000, 1001, 0o700],
      ['agentq/tmp/', 1000, 1001, 0o700],
      ['agentq/work/token', 1000, 1001, 0o600],
    ]);
    expect(logs.some((l) => l.includes('pulling sandbox image'))).toBe(true);
    // present now: no second pull
    await provider.create(spec('t-pull-2', 'true', { image: 'registry.example/team/agent:2' }));
    expect(calls('POST', /^\/images\/create$/)).toHaveLength(1);
  });

  it('fails with DISPATCH_IMAGE_NOT_FOUND when the image cannot be pulled, leaving no container', async () => {
    const provider = makeProvider();
    const missing = await rejection(provider.create(spec('t-missing', 'true', { image: 'registry.example/team/nope:1' })));
    expect(missing.code).toBe('DISPATCH_IMAGE_NOT_FOUND');
    expect(missing.message).toContain('registry.example/team/nope:1');
    // answered 200, with the failure in the progress stream
    const broken = await rejection(provider.create(spec('t-broken', 'true', { image: 'registry.example/team/broken:1' })));
    expect(broken.code).toBe('DISPATCH_IMAGE_NOT_FOUND');
    expect(broken.message).toContain('no space left on device');
    expect(calls('POST', /^\/containers\/create$/)).toEqual([]);
    expect(engine.allContainers()).toEqual([]);
  });

  it('reports an unreachable engine as DISPATCH_PROVIDER_UNAVAILABLE', async () => {
    const gone = await FakeDockerEngine.start({ images: [IMAGE] });
    const goneClient = gone.client();
    await gone.close();
    const refused = new DockerSandboxProvider({ docker: goneClient, image: IMAGE, cpu: 1, memoryMb: 256 });
    await expect(refused.create(spec('t-refused', 'true'))).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });
    await expect(refused.list({})).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });
    await expect(refused.attach('abc')).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });

    const noSocket = new DockerSandboxProvider({ docker: new Dockerode({ socketPath: `${engine.root}/no-such/docker.sock` }), image: IMAGE, cpu: 1, memoryMb: 256 });
    await expect(noSocket.create(spec('t-socket', 'true'))).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });

    const provider = makeProvider();
    engine.unreachable = true; // connections dropped as they open
    await expect(provider.create(spec('t-dropped', 'true'))).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });
    engine.unreachable = false;
    expect(engine.allContainers()).toEqual([]);
  });

  it('reports engine 5xx as DISPATCH_PROVIDER_UNAVAILABLE and removes a container that could not start', async () => {
    const provider = makeProvider();
    engine.fail({ method: 'POST', path: /^\/containers\/create$/, status: 500, message: `driver failed with ${SECRET}` });
    const failed = await rejection(provider.create(spec('t-500', 'true', { secrets: { AGENTQ_TEST_SECRET: SECRET } })));
    expect(failed.code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    expect(failed.message).not.toContain(SECRET);

    engine.fail({ method: 'POST', path: /\/start$/, status: 500, message: 'OCI runtime create failed' });
    const start = await rejection(provider.create(spec('t-start', 'true', { secrets: { AGENTQ_TEST_SECRET: SECRET } })));
    expect(start.code).toBe('DISPATCH_PROVIDER_UNAVAILABLE');
    expect(calls('DELETE', /^\/containers\/[0-9a-f]{64}$/).map((c) => c.query)).toEqual([{ force: 'true', v: 'true' }]);
    expect(engine.allContainers()).toEqual([]);
    // the name is free again: the next attempt works
    const handle = await provider.create(spec('t-start', 'echo second try'));
    expect(texts(await collect(handle))).toEqual(['second try']);
  });

  it('refuses a second sandbox for a task with DISPATCH_SANDBOX_EXISTS, naming no secret', async () => {
    const provider = makeProvider();
    const first = spec('t-twice', 'sleep 5', { secrets: { AGENTQ_TEST_SECRET: SECRET } });
    await provider.create(first);
    const again = await rejection(provider.create(first));
    expect(again.code).toBe('DISPATCH_SANDBOX_EXISTS');
    expect(again.message).not.toContain(SECRET);
    expect(engine.allContainers()).toHaveLength(1);
  });

  it('re-attaches by container id from another provider instance and reads on', async () => {
    const handle = await makeProvider().create(spec('t-attach', 'for i in 1 2 3 4; do echo "line $i"; sleep 0.15; done'));
    expect(handle.id).toMatch(/^[0-9a-f]{64}$/);
    await waitFor(() => engine.output(handle.id).includes('line 2'), { timeoutMs: 5000 });
    const restarted = makeProvider();
    const again = await restarted.attach(handle.id);
    expect(again?.id).toBe(handle.id);
    expect(await again?.status()).toEqual({ state: 'running' });
    expect(await collect(again as SandboxHandle, 2)).toEqual([
      { line: 3, text: 'line 3' },
      { line: 4, text: 'line 4' },
    ]);
    // by a unique prefix of the id too; the handle carries the full id
    expect((await restarted.attach(handle.id.slice(0, 12)))?.id).toBe(handle.id);
    expect(await restarted.attach('not-a-sandbox')).toBeUndefined();
    await expect(restarted.attach('../etc')).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_ID' });
  });

  it('never touches a container that is not one of its sandboxes', async () => {
    const provider = makeProvider();
    const other = await docker.createContainer({ _query: { name: 'someone-elses' }, _body: { Image: IMAGE, Cmd: ['sleep', '5'], Labels: { agentq_task: 'x' } } } as Dockerode.ContainerCreateOptions);
    await other.start();
    expect(await provider.attach(other.id)).toBeUndefined();
    expect(await provider.list({ agentq_task: 'x' })).toEqual([]);
    await provider.remove(other.id);
    expect(engine.container(other.id)?.state).toBe('running');
  });

  it('reopens a log stream that breaks while the container runs, without losing or repeating lines', async () => {
    const provider = makeProvider();
    engine.cutLogStreams(2, 40);
    const handle = await provider.create(spec('t-cut', 'for i in 1 2 3 4 5 6; do echo "line number $i"; sleep 0.05; done; printf tail'));
    const lines = await collect(handle);
    expect(lines).toEqual([...[1, 2, 3, 4, 5, 6].map((i) => ({ line: i, text: `line number ${i}` })), { line: 7, text: 'tail' }]);
    expect(calls('GET', /\/logs$/).length).toBeGreaterThanOrEqual(3);
    expect(calls('GET', /\/logs$/)[0]?.query).toMatchObject({ follow: 'true', stdout: 'true', stderr: 'true' });
  });

  it('reopens a log stream that ends while the container runs', async () => {
    const provider = makeProvider();
    engine.cutLogStreams(3, 30, 'end');
    const handle = await provider.create(spec('t-end', 'for i in 1 2 3 4 5; do echo "line number $i"; sleep 0.05; done'));
    expect(await collect(handle)).toEqual([1, 2, 3, 4, 5].map((i) => ({ line: i, text: `line number ${i}` })));
    expect(calls('GET', /\/logs$/).length).toBeGreaterThanOrEqual(4);
  });

  it('gives up with DISPATCH_PROVIDER_UNAVAILABLE when the log stream keeps failing', async () => {
    const handle = await makeProvider().create(spec('t-fail', 'echo one; sleep 30'));
    engine.fail({ method: 'GET', path: /\/logs$/, status: 500, message: 'logging driver failed', times: 10 });
    await expect(collect(handle)).rejects.toMatchObject({ code: 'DISPATCH_PROVIDER_UNAVAILABLE' });
    expect(calls('GET', /\/logs$/)).toHaveLength(5);
    await handle.terminate();
  });

  it('decodes output the engine cuts into tiny frames, characters split between them', async () => {
    await engine.close();
    engine = await FakeDockerEngine.start({ images: [IMAGE], frameSize: 3 });
    docker = engine.client();
    const handle = await makeProvider().create(spec('t-frames', "echo 'héllo wörld ✓'; echo err >&2; printf 'ünfinished'"));
    expect(texts(await collect(handle))).toEqual(['héllo wörld ✓', 'err', 'ünfinished']);
  });

  it('stops reading when the signal aborts', async () => {
    const handle = await makeProvider().create(spec('t-abort', 'echo started; sleep 30'));
    const abort = new AbortController();
    const seen: string[] = [];
    for await (const chunk of handle.output(0, abort.signal)) {
      seen.push(...texts(chunk));
      abort.abort();
    }
    expect(seen).toEqual(['started']);
    const waitAbort = new AbortController();
    setTimeout(() => waitAbort.abort(), 100);
    expect(await handle.wait(waitAbort.signal)).toEqual({ state: 'running' });
    await handle.terminate();
  });

  it('terminate leaves no exit code (lost); a stop the engine fails is DISPATCH_TERMINATE_FAILED and can be retried', async () => {
    const provider = makeProvider();
    const handle = await provider.create(spec('t-term', 'echo up; sleep 60'));
    await waitFor(() => engine.output(handle.id).includes('up'), { timeoutMs: 5000 });
    engine.fail({ method: 'POST', path: /\/stop$/, status: 500, message: 'cannot stop' });
    await expect(handle.terminate()).rejects.toMatchObject({ code: 'DISPATCH_TERMINATE_FAILED' });
    expect(await handle.status()).toEqual({ state: 'running' });
    await handle.terminate();
    expect(calls('POST', /\/stop$/).at(-1)?.query).toEqual({ t: '1' });
    expect(await handle.status()).toEqual({ state: 'lost' });
    await handle.terminate();
  });

  it('release keeps the stopped container (output, home); remove deletes it and ignores unknown ids', async () => {
    const provider = makeProvider();
    const handle = await provider.create(spec('t-keep', 'echo kept > "$HOME/note"; echo said; sleep 60'));
    await waitFor(() => engine.output(handle.id).includes('said'), { timeoutMs: 5000 });
    await handle.release();
    expect(engine.container(handle.id)?.state).toBe('exited');
    expect(texts(await collect(handle))).toEqual(['said']);
    const [info] = await provider.list({ agentq_task: 't-keep' });
    expect(info).toMatchObject({ id: handle.id, tags: { agentq_task: 't-keep' }, status: { state: 'lost' } });
    expect(new Date(info?.createdAt ?? '').getTime()).toBeGreaterThan(Date.now() - 60_000);
    await provider.remove(handle.id);
    expect(engine.container(handle.id)).toBeUndefined();
    expect(await provider.attach(handle.id)).toBeUndefined();
    await provider.remove(handle.id);
    await provider.remove('0123456789ab');
  });

  it('lists by label filters, with the tags but the marker and each status', async () => {
    const provider = makeProvider();
    const done = await provider.create(spec('t-list-1', 'exit 3', { tags: { agentq_task: 't-list-1', team: 'a' } }));
    const running = await provider.create(spec('t-list-2', 'sleep 30', { tags: { agentq_task: 't-list-2', team: 'a' } }));
    await done.wait();
    const listed = await provider.list({ team: 'a' });
    expect(calls('GET', /^\/containers\/json$/).at(-1)?.query).toEqual({ all: 'true', filters: JSON.stringify({ label: [`${MARKER_LABEL}=1`, 'team=a'] }) });
    expect(listed.map((s) => [s.id, s.tags, s.status]).sort()).toEqual(
      [
        [done.id, { agentq_task: 't-list-1', team: 'a' }, { state: 'exited', exitCode: 3 }],
        [running.id, { agentq_task: 't-list-2', team: 'a' }, { state: 'running' }],
      ].sort(),
    );
    expect(await provider.list({ team: 'b' })).toEqual([]);
    await running.terminate();
  });

  it('replaces a private file of a running sandbox by a rename inside it, and writes in place once it ended', async () => {
    const provider = makeProvider();
    const handle = await provider.create(spec('t-files', 'while [ ! -e stop ]; do sleep 0.05; done; echo "token=$(cat token)"', { files: { token: 'one' } }));
    const tokenPath = engine.hostPath(handle.id, `${WORK_DIR}/token`);
    expect((await stat(tokenPath)).mode & 0o777).toBe(0o600);
    await handle.writeFile?.('token', 'two');
    const execs = calls('POST', /\/exec$/).map((c) => (c.body as { Cmd: string[] }).Cmd);
    expect(execs).toEqual([['mv', '-f', expect.stringMatching(/^\/agentq\/tmp\/token\.[0-9a-f]+$/), `${WORK_DIR}/token`]]);
    expect((await stat(tokenPath)).mode & 0o777).toBe(0o600);
    expect(await handle.readFile?.('token')).toBe('two');
    await handle.writeFile?.('stop', '');
    expect(texts(await collect(handle))).toEqual(['token=two']);
    await handle.wait();
    await handle.writeFile?.('token', 'three');
    expect(calls('POST', /\/exec$/)).toHaveLength(2); // no third exec: the container has ended
    expect(await handle.readFile?.('token')).toBe('three');
    expect(await handle.readFile?.('absent')).toBeUndefined();
    await expect(handle.writeFile?.('../x', 'y')).rejects.toMatchObject({ code: 'DISPATCH_BAD_SANDBOX_SPEC' });
    // a root image: everything belongs to root
    expect(calls('PUT', /\/archive$/).flatMap((c) => c.entries ?? []).every((e) => e.uid === 0 && e.gid === 0)).toBe(true);
  });

  it('runs commands beside the main program (exec)', async () => {
    const handle = await makeProvider().create(spec('t-exec', 'sleep 30'));
    expect(await handle.exec?.(['bash', '-c', 'echo out; echo err >&2; exit 3'])).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
    await handle.terminate();
    await expect(handle.exec?.(['true'])).rejects.toMatchObject({ code: 'DISPATCH_SANDBOX_FAILED' });
  });

  it('copies inherited home paths (nested ones too) from an ended sandbox, and refuses when they are gone', async () => {
    const provider = makeProvider();
    const first = await provider.create(spec('t-inh-1', 'mkdir -p "$HOME/.agent/s" "$HOME/.config/tool" && echo one > "$HOME/.agent/s/a" && echo two > "$HOME/.config/tool/b"'));
    expect(await first.wait()).toEqual({ state: 'exited', exitCode: 0 });
    await first.release();
    const second = await provider.create(
      spec('t-inh-2', 'cat "$HOME/.agent/s/a" "$HOME/.config/tool/b"; ls -a "$HOME/.config"', {
        inherit: { sandboxId: first.id, homePaths: ['.agent', '.config/tool', '.missing'] },
      }),
    );
    expect(texts(await collect(second))).toEqual(['one', 'two', '.', '..', 'tool']);
    const none = await rejection(provider.create(spec('t-inh-3', 'true', { inherit: { sandboxId: first.id, homePaths: ['.missing'] } })));
    expect(none.code).toBe('DISPATCH_INHERIT_UNAVAILABLE');
    await provider.remove(first.id);
    const gone = await rejection(provider.create(spec('t-inh-4', 'true', { inherit: { sandboxId: first.id, homePaths: ['.agent'] } })));
    expect(gone.code).toBe('DISPATCH_INHERIT_UNAVAILABLE');
    expect(engine.allContainers().map((c) => c.name)).toEqual(['agentq-t-inh-2']);
  });

  it('is built from the configuration by createDockerProvider', async () => {
    const config = loadConfig({
      AGENTQ_SANDBOX_PROVIDER: 'docker',
      AGENTQ_DOCKER_HOST: `tcp://127.0.0.1:${engine.port}`,
      AGENTQ_DOCKER_NETWORK: 'none',
      AGENTQ_SANDBOX_IMAGE: IMAGE,
      AGENTQ_SANDBOX_CPU: '2',
      AGENTQ_SANDBOX_MEMORY_MB: '1024',
    });
    const provider = createDockerProvider(config, logger);
    expect(provider.name).toBe('docker');
    const handle = await provider.create(spec('t-config', 'echo "configured, agent user $AGENTQ_AGENT_USER"'));
    expect(texts(await collect(handle))).toEqual(['configured, agent user 1000:1000']);
    const body = calls('POST', /^\/containers\/create$/)[0]?.body as Dockerode.ContainerCreateOptions;
    expect(body.Image).toBe(IMAGE);
    expect(body.Env).toContain('AGENTQ_AGENT_USER=1000:1000');
    expect(body.HostConfig).toEqual({ NanoCpus: 2_000_000_000, Memory: 1024 * 1024 * 1024, NetworkMode: 'none', Init: true });
  });

  it('passes the configured agent user to the run script, and none when AGENTQ_SANDBOX_AGENT_USER is empty', async () => {
    const base = { AGENTQ_SANDBOX_PROVIDER: 'docker', AGENTQ_DOCKER_HOST: `tcp://127.0.0.1:${engine.port}`, AGENTQ_SANDBOX_IMAGE: IMAGE };
    const script = 'echo "agent user ${AGENTQ_AGENT_USER-unset}"';
    const other = createDockerProvider(loadConfig({ ...base, AGENTQ_SANDBOX_AGENT_USER: '2000:3000' }), logger);
    expect(texts(await collect(await other.create(spec('t-user', script))))).toEqual(['agent user 2000:3000']);
    const none = createDockerProvider(loadConfig({ ...base, AGENTQ_SANDBOX_AGENT_USER: '' }), logger);
    expect(texts(await collect(await none.create(spec('t-nouser', script))))).toEqual(['agent user unset']);
    const bodies = calls('POST', /^\/containers\/create$/).map((c) => (c.body as Dockerode.ContainerCreateOptions).Env ?? []);
    expect(bodies.map((env) => env.filter((e) => e.startsWith('AGENTQ_AGENT_USER=')))).toEqual([['AGENTQ_AGENT_USER=2000:3000'], []]);
  });
});
