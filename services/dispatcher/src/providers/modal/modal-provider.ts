import { DOMAIN_PATTERN, type Config, type Logger } from '@agentq/shared';
import { ModalClient, type Logger as ModalLogger } from 'modal';
import type { ModalApi, ModalApp, ModalSandbox, ModalSandboxCreateParams, ModalSecret } from './modal-api.js';
import type { SandboxHandle, SandboxInfo, SandboxProvider, SandboxSpec } from '../sandbox-provider.js';
import { isNotFound, modalError } from './modal-errors.js';
import { ModalSandboxHandle, type HandleContext } from './modal-handle.js';
import { DEFAULT_TIMEOUT_MS, SANDBOX_ID, TASK_ID, WRAPPER, privateFileName } from './modal-layout.js';
import { InheritUnavailableError, SandboxExistsError, dispatchError } from '../../dispatch-errors.js';

export interface ModalProviderOptions {
  client: ModalApi;
  /** The Modal App the sandboxes run in (created when missing). */
  app: string;
  /** Modal environment; the client's when absent. */
  environment?: string;
  /** Default registry image of a sandbox (`SandboxSpec.image` overrides it). */
  image: string;
  cpu: number;
  memoryMiB: number;
  /** `uid:gid` the run script runs setup commands and the agent as (`AGENTQ_AGENT_USER`); absent: the image's user. */
  agentUser?: string;
  /** Names of Modal Secrets attached to every sandbox. */
  secretNames: string[];
  /** Domains every sandbox may reach; undefined: no outbound limit. */
  allowedDomains: string[] | undefined;
  /** Modal ends a sandbox idle this long. */
  idleTimeoutMs?: number;
  /** Directory in the sandbox that holds the run (`work/`, `output.log`, `exit-code`). */
  root?: string;
  /** How often the state of a sandbox is polled. */
  pollMs?: number;
  /** How long `terminate` waits for Modal to report the sandbox ended. */
  graceMs?: number;
  logger?: Logger;
}

/** What a provider was configured with (no client, no secret values). */
export interface ModalProviderSettings {
  app: string;
  environment: string | undefined;
  image: string;
  cpu: number;
  memoryMiB: number;
  agentUser: string | undefined;
  secretNames: string[];
  allowedDomains: string[] | undefined;
  idleTimeoutMs: number | undefined;
  root: string;
  pollMs: number;
  graceMs: number;
}

/**
 * The `modal` sandbox provider: one Modal Sandbox per task, named `agentq-<task id>` in the App
 * `app`. The sandbox's entrypoint (see WRAPPER) keeps the command's output in a file inside the
 * sandbox, so a dispatcher that restarts re-attaches by id and reads it again from any line; the
 * sandbox lives on after the command ended until it is released (its `timeoutMs` bounds a forgotten
 * one). Everything else goes through `exec`. Images need bash and GNU coreutils.
 */
export class ModalSandboxProvider implements SandboxProvider {
  readonly name = 'modal';
  readonly settings: ModalProviderSettings;
  private readonly client: ModalApi;
  private readonly logger: Logger | undefined;
  private readonly context: HandleContext;
  private appLookup: Promise<ModalApp> | undefined;

  constructor(options: ModalProviderOptions) {
    this.client = options.client;
    this.logger = options.logger;
    this.settings = {
      app: options.app,
      environment: options.environment,
      image: options.image,
      cpu: options.cpu,
      memoryMiB: options.memoryMiB,
      agentUser: options.agentUser || undefined,
      secretNames: [...options.secretNames],
      allowedDomains: options.allowedDomains ? [...options.allowedDomains] : undefined,
      idleTimeoutMs: options.idleTimeoutMs,
      root: (options.root ?? '/agentq').replace(/\/+$/, '') || '/',
      pollMs: options.pollMs ?? 1000,
      graceMs: options.graceMs ?? 30_000,
    };
    this.context = { root: this.settings.root, pollMs: this.settings.pollMs, graceMs: this.settings.graceMs, logger: this.logger };
  }

  /** The App, looked up (and created when missing) once. */
  private app(): Promise<ModalApp> {
    this.appLookup ??= this.client.apps.fromName(this.settings.app, { createIfMissing: true, environment: this.settings.environment }).catch((err: unknown) => {
      this.appLookup = undefined;
      throw modalError(err, `could not look up the Modal App ${this.settings.app}`);
    });
    return this.appLookup;
  }

  private validate(spec: SandboxSpec): void {
    if (!TASK_ID.test(spec.taskId)) throw dispatchError('DISPATCH_BAD_SANDBOX_ID', `invalid sandbox id ${JSON.stringify(spec.taskId)}`);
    if (spec.command.length === 0) throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', 'the sandbox has no command');
    for (const name of Object.keys(spec.files ?? {})) privateFileName(name);
    for (const domain of spec.allowedDomains ?? []) {
      if (!DOMAIN_PATTERN.test(domain)) throw dispatchError('DISPATCH_BAD_SANDBOX_SPEC', `${JSON.stringify(domain)} is not a domain name`);
    }
    if (spec.inherit) {
      throw new InheritUnavailableError(`sandbox ${spec.inherit.sandboxId} kept nothing: a Modal sandbox keeps no files once it has ended`);
    }
  }

  /** The configured domains and the spec's; undefined (no limit) when none are configured. */
  private allowlist(spec: SandboxSpec): string[] | undefined {
    const configured = this.settings.allowedDomains;
    if (configured === undefined) return undefined;
    return [...new Set([...configured, ...(spec.allowedDomains ?? [])])];
  }

  async create(spec: SandboxSpec): Promise<SandboxHandle> {
    this.validate(spec);
    const secretValues = Object.values(spec.secrets);
    const fail = (err: unknown, what: string, stage?: 'image') => modalError(err, what, { stage, secrets: secretValues });
    const app = await this.app();
    const tag = spec.image ?? this.settings.image;
    const image = this.client.images.fromRegistry(tag);
    try {
      await image.build(app);
    } catch (err) {
      throw fail(err, `could not get the image ${tag}`, 'image');
    }
    const environment = this.settings.environment;
    const secrets: ModalSecret[] = [];
    try {
      if (secretValues.length > 0) secrets.push(await this.client.secrets.fromObject(spec.secrets, { environment }));
      for (const name of this.settings.secretNames) secrets.push(await this.client.secrets.fromName(name, { environment }));
    } catch (err) {
      throw fail(err, 'could not get the Modal Secrets of the sandbox');
    }
    const params: ModalSandboxCreateParams = {
      name: `agentq-${spec.taskId}`,
      command: ['bash', '-c', WRAPPER, 'agentq-sandbox', this.settings.root, ...spec.command],
      workdir: `${this.settings.root}/work`,
      env: this.settings.agentUser ? { ...spec.env, AGENTQ_AGENT_USER: this.settings.agentUser } : spec.env,
      secrets,
      tags: spec.tags,
      cpu: this.settings.cpu,
      memoryMiB: this.settings.memoryMiB,
      timeoutMs: spec.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    };
    if (this.settings.idleTimeoutMs !== undefined) params.idleTimeoutMs = this.settings.idleTimeoutMs;
    const allowlist = this.allowlist(spec);
    if (allowlist !== undefined) params.outboundDomainAllowlist = allowlist;

    let sandbox: ModalSandbox;
    try {
      sandbox = await this.client.sandboxes.create(app, image, params);
    } catch (err) {
      const mapped = fail(err, 'could not create the sandbox');
      if (mapped instanceof SandboxExistsError) {
        throw new SandboxExistsError(`a sandbox for ${spec.taskId} exists already`, { cause: err });
      }
      throw mapped;
    }
    const handle = new ModalSandboxHandle(sandbox, this.context);
    try {
      for (const [name, content] of Object.entries(spec.files ?? {})) await handle.writeFile(name, content);
      await handle.markReady();
    } catch (err) {
      const mapped = fail(err, 'could not prepare the sandbox (its image needs bash and GNU coreutils)');
      this.logger?.warn({ sandboxId: sandbox.sandboxId, taskId: spec.taskId, code: mapped.code, err: mapped.message }, 'sandbox preparation failed, terminating it');
      await sandbox.terminate().catch(() => undefined);
      throw mapped;
    }
    this.logger?.info({ sandboxId: sandbox.sandboxId, taskId: spec.taskId, image: tag }, 'sandbox created');
    return handle;
  }

  async attach(sandboxId: string): Promise<SandboxHandle | undefined> {
    if (!SANDBOX_ID.test(sandboxId)) throw dispatchError('DISPATCH_BAD_SANDBOX_ID', `invalid sandbox id ${JSON.stringify(sandboxId)}`);
    let sandbox: ModalSandbox;
    try {
      sandbox = await this.client.sandboxes.fromId(sandboxId);
      // the SDK looks the id up lazily: ask once, so an unknown id is told apart here
      await sandbox.poll();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw modalError(err, `could not look up sandbox ${sandboxId}`);
    }
    return new ModalSandboxHandle(sandbox, this.context);
  }

  async list(tags: Record<string, string>): Promise<SandboxInfo[]> {
    const app = await this.app();
    const out: SandboxInfo[] = [];
    try {
      for await (const sandbox of this.client.sandboxes.list({ appId: app.appId, tags, environment: this.settings.environment })) {
        const handle = new ModalSandboxHandle(sandbox, this.context);
        let info: SandboxInfo;
        try {
          const [sandboxTags, status] = await Promise.all([sandbox.getTags(), handle.status()]);
          info = { id: sandbox.sandboxId, tags: sandboxTags, status };
        } catch (err) {
          if (await handle.gone()) continue; // ended while it was being looked at
          throw err;
        }
        if (Object.entries(tags).every(([k, v]) => info.tags[k] === v)) out.push(info);
      }
    } catch (err) {
      throw modalError(err, 'could not list the sandboxes');
    }
    return out;
  }

  async remove(sandboxId: string): Promise<void> {
    const handle = await this.attach(sandboxId);
    await handle?.terminate();
  }

  /** Closes the Modal client's connections; the sandboxes keep running. */
  async close(): Promise<void> {
    this.client.close();
  }
}

/** Passes the SDK's own log lines to the service's logger. */
function sdkLogger(logger: Logger): ModalLogger {
  const log = logger.child({ component: 'modal-sdk' });
  return {
    debug: (message, ...args) => log.debug({ args }, message),
    info: (message, ...args) => log.info({ args }, message),
    warn: (message, ...args) => log.warn({ args }, message),
    error: (message, ...args) => log.error({ args }, message),
  };
}

/** The `modal` provider of a configuration, with a real Modal client (`MODAL_TOKEN_ID` / `MODAL_TOKEN_SECRET`, else the Modal profile). */
export function createModalProvider(config: Config, logger: Logger): ModalSandboxProvider {
  const client: ModalApi = new ModalClient({
    tokenId: config.modal.tokenId,
    tokenSecret: config.modal.tokenSecret,
    environment: config.modal.environment,
    logger: sdkLogger(logger),
  });
  return new ModalSandboxProvider({
    client,
    app: config.modal.app,
    environment: config.modal.environment,
    image: config.sandbox.image,
    cpu: config.sandbox.cpu,
    memoryMiB: config.sandbox.memoryMb,
    agentUser: config.sandbox.agentUser,
    secretNames: config.modal.secretNames,
    allowedDomains: config.sandbox.allowedDomains,
    idleTimeoutMs: config.modal.idleTimeoutSec === undefined ? undefined : config.modal.idleTimeoutSec * 1000,
    logger: logger.child({ provider: 'modal' }),
  });
}
