import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { ConfigError, errorMessage, type Config, type Logger } from '@agentq/shared';
import Dockerode from 'dockerode';
import { packArchive, type ArchiveEntry } from './docker-archive.js';
import { dockerError, engineStatus, scrub } from './docker-errors.js';
import { DockerSandboxHandle, isRunningState, recordedExitCode } from './docker-handle.js';
import {
  ENTRYPOINT,
  HOME_DIR,
  MARKER_LABEL,
  MARKER_VALUE,
  SANDBOX_DIR,
  WORK_DIR,
  containerName,
  containerRef,
  privateFileName,
  taskIdOf,
} from './docker-layout.js';
import { LineSplitter } from './docker-logs.js';
import { containerOwner, type Owner } from './docker-owner.js';
import type { SandboxHandle, SandboxInfo, SandboxInheritance, SandboxProvider, SandboxSpec, SandboxStatus } from '../sandbox-provider.js';
import { InheritUnavailableError, SandboxExistsError, dispatchError } from '../../dispatch-errors.js';

export interface DockerProviderOptions {
  /** The Engine API client. */
  docker: Dockerode;
  /** Image of sandboxes whose spec names none. */
  image: string;
  /** CPU cores of a sandbox (fractions allowed). */
  cpu: number;
  /** Memory of a sandbox, in MiB. */
  memoryMb: number;
  /** `uid:gid` the run script runs setup commands and the agent as (`AGENTQ_AGENT_USER`); absent: the image's user. */
  agentUser?: string;
  /** Docker network of the sandboxes (`none`, `bridge`, `host` or a network's name); Docker's default when absent. */
  network?: string;
  /** Time between SIGTERM and SIGKILL on terminate; the engine counts whole seconds. */
  graceMs?: number;
  /** Pause before reopening a broken log stream or retrying a failed wait. */
  pollMs?: number;
  logger?: Logger;
}

const VARIABLE_NAME = /^[^=\0]+$/;
/** How many ended containers `list` reads the exit code of at a time. */
const LIST_CONCURRENCY = 8;

/** The dockerode options for `AGENTQ_DOCKER_HOST`; undefined: dockerode's defaults (`DOCKER_HOST`, else the local socket). */
export function dockerClientOptions(host: string | undefined): Dockerode.DockerOptions | undefined {
  if (host === undefined) return undefined;
  if (host.startsWith('unix://')) {
    // host and port set to nothing, so that a DOCKER_HOST in the environment does not win over the socket
    return { socketPath: host.slice('unix://'.length), host: undefined, port: undefined, protocol: 'http' };
  }
  const url = new URL(host);
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:' && url.protocol !== 'tcp:') {
    throw new ConfigError(['AGENTQ_DOCKER_HOST: must be unix://, tcp://, http:// or https://']);
  }
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host: hostname, port: url.port ? Number(url.port) : https ? 2376 : 2375, protocol: https ? 'https' : 'http' };
}

/** The `docker` provider of a service's configuration (`AGENTQ_DOCKER_*`, `AGENTQ_SANDBOX_*`). */
export function createDockerProvider(config: Config, logger: Logger): DockerSandboxProvider {
  const docker = new Dockerode(dockerClientOptions(config.docker.host));
  return new DockerSandboxProvider({
    docker,
    image: config.sandbox.image,
    cpu: config.sandbox.cpu,
    memoryMb: config.sandbox.memoryMb,
    agentUser: config.sandbox.agentUser,
    network: config.docker.network,
    logger,
  });
}

interface InheritedPath {
  /** Relative to the home directory. */
  rel: string;
}

/**
 * The `docker` sandbox provider: one container per task (`agentq-<taskId>`) through the Docker
 * Engine API. The command starts in `/agentq/work` with HOME `/agentq/home`; its output is the
 * container's log (stderr merged into stdout), so a restarted dispatcher re-attaches by reading
 * the log again. Ended containers are kept (stopped) until `remove`: their home seeds follow-ups.
 */
export class DockerSandboxProvider implements SandboxProvider {
  readonly name = 'docker';
  private readonly docker: Dockerode;
  private readonly graceMs: number;
  private readonly pollMs: number;
  private readonly logger: Logger | undefined;

  constructor(private readonly options: DockerProviderOptions) {
    this.docker = options.docker;
    this.graceMs = options.graceMs ?? 5000;
    this.pollMs = options.pollMs ?? 500;
    this.logger = options.logger;
  }

  private handle(id: string, user: string | undefined, owner?: Owner): DockerSandboxHandle {
    return new DockerSandboxHandle(this.docker, id, { graceMs: this.graceMs, pollMs: this.pollMs, user, owner, logger: this.logger });
  }

  async create(spec: SandboxSpec): Promise<SandboxHandle> {
    const taskId = taskIdOf(spec.taskId);
    if (spec.command.length === 0) throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', 'the sandbox needs a command');
    for (const name of Object.keys(spec.files ?? {})) privateFileName(name);
    for (const name of [...Object.keys(spec.env), ...Object.keys(spec.secrets)]) {
      if (!VARIABLE_NAME.test(name)) throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', `${JSON.stringify(name)} is not a variable name`);
    }
    if (MARKER_LABEL in spec.tags) throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', `the tag ${MARKER_LABEL} is the provider's own`);
    const agentUser: Record<string, string> = this.options.agentUser ? { AGENTQ_AGENT_USER: this.options.agentUser } : {};
    const environment: Record<string, string> = { ...spec.env, ...agentUser, ...spec.secrets, HOME: HOME_DIR };
    // values that must never appear in an error message
    const hidden = [...Object.values(spec.secrets), ...Object.values(spec.env)];
    const inherited = spec.inherit ? await this.inheritable(spec.inherit) : [];
    const image = spec.image ?? this.options.image;
    const user = await this.prepareImage(image);

    const labels = { ...spec.tags, [MARKER_LABEL]: MARKER_VALUE };
    const body: Dockerode.ContainerCreateOptions = {
      Image: image,
      Entrypoint: ENTRYPOINT,
      Cmd: spec.command,
      Env: Object.entries(environment).map(([name, value]) => `${name}=${value}`),
      WorkingDir: WORK_DIR,
      Labels: labels,
      Tty: false,
      OpenStdin: false,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      HostConfig: {
        NanoCpus: Math.round(this.options.cpu * 1e9),
        Memory: this.options.memoryMb * 1024 * 1024,
        Init: true,
        ...(this.options.network ? { NetworkMode: this.options.network } : {}),
      },
    };
    let container: Dockerode.Container;
    try {
      // name in the query, everything else in the body: dockerode would copy the whole body
      // (the secrets in Env too) into the URL otherwise
      container = await this.docker.createContainer({ _query: { name: containerName(taskId) }, _body: body } as Dockerode.ContainerCreateOptions);
    } catch (err) {
      const mapped = dockerError(err, 'create', `could not create the sandbox of ${taskId}`, hidden);
      if (mapped instanceof SandboxExistsError) {
        throw new SandboxExistsError(`a sandbox for ${taskId} exists already`, { cause: err });
      }
      throw mapped;
    }
    const log = this.logger?.child({ taskId, sandboxId: container.id });
    let owner: Owner;
    try {
      owner = await containerOwner(container, user);
      await container.putArchive(await packArchive(this.skeleton(spec.files ?? {}, inherited), owner), { path: '/' });
      if (spec.inherit) await this.copyHome(spec.inherit, inherited, container);
      await container.start();
    } catch (err) {
      await container.remove({ force: true, v: true }).catch((removeErr: unknown) => {
        log?.warn({ err: scrub(errorMessage(removeErr), hidden) }, 'could not remove a sandbox that failed to start');
      });
      throw dockerError(err, 'other', `could not start the sandbox of ${taskId}`, hidden);
    }
    log?.info({ image }, 'sandbox container started');
    return this.handle(container.id, user, owner);
  }

  /** `/agentq` with its directories and the private files, as an archive to extract at `/`. */
  private skeleton(files: Record<string, string>, inherited: InheritedPath[]): ArchiveEntry[] {
    const root = SANDBOX_DIR.slice(1);
    const entries: ArchiveEntry[] = [
      { name: `${root}/`, type: 'directory', mode: 0o755 },
      { name: `${root}/work/`, type: 'directory', mode: 0o755 },
      { name: `${root}/home/`, type: 'directory', mode: 0o700 },
      { name: `${root}/tmp/`, type: 'directory', mode: 0o700 },
    ];
    // the parents of inherited paths, so their archives have a place to go
    const parents = new Set<string>();
    for (const { rel } of inherited) {
      for (let dir = posix.dirname(rel); dir !== '.'; dir = posix.dirname(dir)) parents.add(dir);
    }
    for (const dir of [...parents].sort()) entries.push({ name: `${root}/home/${dir}/`, type: 'directory', mode: 0o700 });
    for (const [name, content] of Object.entries(files)) entries.push({ name: `${root}/work/${name}`, type: 'file', mode: 0o600, content });
    return entries;
  }

  /** The inherited home paths present in the earlier container; throws when there are none. */
  private async inheritable(inherit: SandboxInheritance): Promise<InheritedPath[]> {
    const paths: InheritedPath[] = [];
    for (const path of inherit.homePaths) {
      const rel = posix.normalize(path).replace(/\/+$/, '');
      if (posix.isAbsolute(rel) || rel === '.' || rel === '' || rel.split('/').includes('..')) {
        throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', `cannot inherit ${JSON.stringify(path)}: not a path inside the home`);
      }
      paths.push({ rel });
    }
    const source = this.docker.getContainer(containerRef(inherit.sandboxId));
    const unavailable = (why: string, cause?: unknown) =>
      new InheritUnavailableError(`cannot inherit from sandbox ${inherit.sandboxId}: ${why}`, { cause });
    try {
      const info = await source.inspect();
      if (info.Config?.Labels?.[MARKER_LABEL] !== MARKER_VALUE) throw unavailable('it is not a sandbox of this provider');
    } catch (err) {
      if (engineStatus(err) === 404) throw unavailable('it is gone');
      throw dockerError(err, 'other', `could not inspect sandbox ${inherit.sandboxId}`);
    }
    const found: InheritedPath[] = [];
    for (const path of paths) {
      try {
        const head = (await source.infoArchive({ path: `${HOME_DIR}/${path.rel}` })) as Readable;
        head.resume();
        found.push(path);
      } catch (err) {
        if (engineStatus(err) !== 404) throw dockerError(err, 'other', `could not look into sandbox ${inherit.sandboxId}`);
      }
    }
    if (found.length === 0) throw unavailable(`it has none of ${inherit.homePaths.join(', ')} in its home`);
    return found;
  }

  /**
   * Copies the inherited paths, archive by archive, from the earlier container's home into the new
   * one's; the files keep their owners (the user of the same image, as a rule).
   */
  private async copyHome(inherit: SandboxInheritance, paths: InheritedPath[], target: Dockerode.Container): Promise<void> {
    const source = this.docker.getContainer(inherit.sandboxId);
    let copied = 0;
    for (const { rel } of paths) {
      let archive: NodeJS.ReadableStream;
      try {
        archive = await source.getArchive({ path: `${HOME_DIR}/${rel}` });
      } catch (err) {
        if (engineStatus(err) === 404) continue; // removed meanwhile
        throw err;
      }
      const parent = posix.dirname(rel);
      await target.putArchive(archive, { path: parent === '.' ? HOME_DIR : `${HOME_DIR}/${parent}` });
      copied += 1;
    }
    if (copied === 0) {
      throw new InheritUnavailableError(`sandbox ${inherit.sandboxId} was removed before its home could be copied`);
    }
  }

  /** Makes sure the engine has the image (pulling it if not); returns the image's user. */
  private async prepareImage(image: string): Promise<string | undefined> {
    try {
      return (await this.docker.getImage(image).inspect()).Config?.User;
    } catch (err) {
      if (engineStatus(err) !== 404) throw dockerError(err, 'image', `could not look up image ${image}`);
    }
    await this.pull(image);
    try {
      return (await this.docker.getImage(image).inspect()).Config?.User;
    } catch (err) {
      throw dockerError(err, 'image', `image ${image} is not there after pulling it`);
    }
  }

  private async pull(image: string): Promise<void> {
    this.logger?.info({ image }, 'pulling sandbox image');
    const what = `could not pull image ${image}`;
    let failure: string | undefined;
    try {
      const progress = (await this.docker.pull(image)) as Readable;
      // the answer is a stream of JSON progress messages; a failure during the pull is one of them
      const splitter = new LineSplitter();
      const check = (line: string | undefined) => {
        if (!line?.trim() || failure !== undefined) return;
        try {
          const event = JSON.parse(line) as { error?: unknown; errorDetail?: { message?: unknown } };
          const message = event.errorDetail?.message ?? event.error;
          if (message !== undefined) failure = String(message);
        } catch {
          // not JSON: progress text, ignored
        }
      };
      for await (const chunk of progress as AsyncIterable<Buffer>) for (const line of splitter.push(chunk)) check(line);
      check(splitter.end());
    } catch (err) {
      throw dockerError(err, 'image', what);
    }
    if (failure !== undefined) throw dispatchError('DISPATCH_IMAGE_NOT_FOUND', `${what}: ${failure}`);
    this.logger?.info({ image }, 'sandbox image pulled');
  }

  /** The container if it exists and is one of this provider's; undefined otherwise. */
  private async inspectOurs(sandboxId: string): Promise<Dockerode.ContainerInspectInfo | undefined> {
    try {
      const info = await this.docker.getContainer(containerRef(sandboxId)).inspect();
      return info.Config?.Labels?.[MARKER_LABEL] === MARKER_VALUE ? info : undefined;
    } catch (err) {
      if (engineStatus(err) === 404) return undefined;
      throw dockerError(err, 'other', `could not inspect sandbox ${sandboxId}`);
    }
  }

  async attach(sandboxId: string): Promise<SandboxHandle | undefined> {
    const info = await this.inspectOurs(sandboxId);
    return info ? this.handle(info.Id, info.Config?.User) : undefined;
  }

  async list(tags: Record<string, string>): Promise<SandboxInfo[]> {
    const label = [`${MARKER_LABEL}=${MARKER_VALUE}`, ...Object.entries(tags).map(([key, value]) => `${key}=${value}`)];
    let containers: Dockerode.ContainerInfo[];
    try {
      containers = await this.docker.listContainers({ all: true, filters: { label } });
    } catch (err) {
      throw dockerError(err, 'other', 'could not list the sandboxes');
    }
    const out: SandboxInfo[] = new Array<SandboxInfo>(containers.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < containers.length; i = next++) {
        const c = containers[i] as Dockerode.ContainerInfo;
        const own = { ...c.Labels };
        delete own[MARKER_LABEL];
        out[i] = { id: c.Id, tags: own, status: await this.listedStatus(c), createdAt: new Date(c.Created * 1000).toISOString() };
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, containers.length) }, worker));
    // the engine filters already; checked again so that a lenient engine cannot widen the result
    return out.filter((s) => Object.entries(tags).every(([k, v]) => s.tags[k] === v));
  }

  private async listedStatus(c: Dockerode.ContainerInfo): Promise<SandboxStatus> {
    if (isRunningState({ Running: c.State === 'running', Paused: c.State === 'paused', Restarting: c.State === 'restarting' })) {
      return { state: 'running' };
    }
    const code = await recordedExitCode(this.docker.getContainer(c.Id));
    return code !== undefined ? { state: 'exited', exitCode: code } : { state: 'lost' };
  }

  async remove(sandboxId: string): Promise<void> {
    const info = await this.inspectOurs(sandboxId);
    if (!info) return;
    try {
      await this.docker.getContainer(info.Id).remove({ force: true, v: true });
    } catch (err) {
      const status = engineStatus(err);
      if (status === 404 || status === 409) return; // gone, or being removed already
      throw dockerError(err, 'other', `could not remove sandbox ${sandboxId}`);
    }
    this.logger?.info({ sandboxId: info.Id }, 'sandbox container removed');
  }
}
