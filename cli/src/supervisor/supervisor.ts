import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { API_TOKEN_FILE, DEMO_REPO, type Config } from '@agentq/shared';
import { CliError } from '../api/cli-error.js';
import type { Style } from '../render/style.js';
import { formatBanner } from './banner.js';
import { startLocalRedis, type LocalRedis } from './local-redis.js';
import { ManagedProcess, type RestartPolicy } from './managed-process.js';
import type { SupervisorOutput } from './output.js';
import { PidFiles } from './pid-files.js';
import { prepareDataDir } from './prepare-data-dir.js';
import { localAddress, portIsFree } from './ports.js';
import { sandboxInfo, waitUntilReady } from './readiness.js';
import { killSandboxes, killSandboxesNow } from './sandbox-cleanup.js';

export interface ServiceSpec {
  name: string;
  /** Entry point, relative to the repository root. */
  entry: string;
  /** Port of its /readyz. */
  port: (config: Config) => number;
  /** Variable that sets the port. */
  portVar: string;
  /** Its other ports (a private ops port), checked to be free before start. */
  otherPorts?: { port: (config: Config) => number; portVar: string }[];
}

export const SERVICES: ServiceSpec[] = [
  {
    name: 'ingress',
    entry: 'services/ingress/src/main.ts',
    port: (c) => c.port,
    portVar: 'AGENTQ_PORT',
    otherPorts: [{ port: (c) => c.ingressOpsPort, portVar: 'AGENTQ_INGRESS_OPS_PORT' }],
  },
  { name: 'dispatcher', entry: 'services/dispatcher/src/main.ts', port: (c) => c.dispatcherPort, portVar: 'AGENTQ_DISPATCHER_PORT' },
  { name: 'relay', entry: 'services/log-relay/src/main.ts', port: (c) => c.relayPort, portVar: 'AGENTQ_RELAY_PORT' },
];

/** Marker of this program in a command line (to recognize a running supervisor by its pid). */
const SUPERVISOR_MARKER = 'cli/src/start.ts';

export interface SupervisorOptions {
  config: Config;
  /** Environment the services inherit. */
  env: NodeJS.ProcessEnv;
  /** Repository root: services run from here. */
  rootDir: string;
  /** The shell's working directory (for the hints in the banner). */
  cwd: string;
  output: SupervisorOutput;
  style: Style;
  /** Output is a terminal: services log human-readable lines. */
  tty: boolean;
  services?: ServiceSpec[];
  restart?: RestartPolicy;
}

/**
 * `npm start`: a private Redis (unless REDIS_URL is set), the ingress, dispatcher and log relay
 * as supervised processes, and an orderly stop that leaves nothing running.
 */
export class Supervisor {
  readonly pidFiles: PidFiles;
  private readonly services: ManagedProcess[] = [];
  private redis: LocalRedis | undefined;
  private readonly startup = new AbortController();
  private stopped: Promise<void> | undefined;
  private starting: Promise<void> | undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.pidFiles = new PidFiles(options.config.dataDir);
  }

  get processes(): { name: string; pid: number | undefined }[] {
    return [...this.services, ...(this.redis ? [this.redis.process] : [])].map((p) => ({ name: p.name, pid: p.pid }));
  }

  /** Starts everything and resolves once all services are ready (and the banner is printed). */
  start(): Promise<void> {
    this.starting ??= this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const { config, output, rootDir } = this.options;
    const specs = this.options.services ?? SERVICES;

    const other = await this.pidFiles.live('supervisor', SUPERVISOR_MARKER);
    if (other !== undefined && other !== process.pid) {
      throw new CliError('START_ALREADY_RUNNING', `agentq is already running with data dir ${config.dataDir} (pid ${other})`, {
        hint: 'stop it first, or use another AGENTQ_DATA_DIR',
        exitCode: 1,
      });
    }
    this.pidFiles.write('supervisor', process.pid);

    for (const spec of specs) {
      // A service of a supervisor that was killed leaves on its own (its IPC channel closes); one that hangs is stopped here.
      const stale = await this.pidFiles.killStale(spec.name, spec.entry);
      if (stale !== undefined) output.say(`stopped ${spec.name} ${stale} left running by an earlier run`);
      if (!existsSync(join(rootDir, spec.entry))) {
        throw new CliError('START_SERVICE_MISSING', `${spec.entry} does not exist`, { exitCode: 1 });
      }
      for (const { port, portVar } of [{ port: spec.port, portVar: spec.portVar }, ...(spec.otherPorts ?? [])]) {
        if (await portIsFree(config.host, port(config))) continue;
        throw new CliError('START_PORT_IN_USE', `port ${port(config)} (${portVar}) on ${config.host} is in use`, {
          hint: `is agentq already running? choose another port with ${portVar}=<port>`,
          exitCode: 1,
        });
      }
    }

    let redisUrl = config.redisUrl;
    if (!redisUrl) {
      this.redis = await startLocalRedis({
        dataDir: config.dataDir,
        pidFiles: this.pidFiles,
        output: (line) => output.line('redis', line),
        notice: (text) => output.say(text),
      });
      redisUrl = this.redis.url;
      this.startup.signal.throwIfAborted();
    }

    const prepared = await prepareDataDir(config);
    if (prepared.seededDemo) output.say(`created the demo repository ${DEMO_REPO}`);
    this.startup.signal.throwIfAborted();

    const env: NodeJS.ProcessEnv = {
      ...this.options.env,
      REDIS_URL: redisUrl,
      AGENTQ_DATA_DIR: config.dataDir,
      AGENTQ_PORT: String(config.port),
      AGENTQ_INGRESS_OPS_PORT: String(config.ingressOpsPort),
      AGENTQ_DISPATCHER_PORT: String(config.dispatcherPort),
      AGENTQ_RELAY_PORT: String(config.relayPort),
    };
    if (this.options.tty && !env.AGENTQ_LOG_PRETTY) env.AGENTQ_LOG_PRETTY = 'true';

    for (const spec of specs) {
      const proc = new ManagedProcess({
        name: spec.name,
        command: process.execPath,
        args: ['--import', 'tsx', spec.entry],
        cwd: rootDir,
        env,
        ipc: true,
        output: (line) => output.line(spec.name, line),
        notice: (text) => output.say(text),
        pidFiles: this.pidFiles,
        ...(this.options.restart ? { restart: this.options.restart } : {}),
      });
      this.services.push(proc);
      proc.start();
    }

    const host = localAddress(config.host);
    const readyUrls = specs.map((spec) => `http://${host}:${spec.port(config)}/readyz`);
    await waitUntilReady(readyUrls, {
      signal: this.startup.signal,
      slow: (pending) => output.say(`still waiting for ${pending.join(', ')}`),
    });

    output.block(
      formatBanner(
        {
          config,
          env: this.options.env,
          generatedToken: prepared.generatedToken ? prepared.tokens[0]?.token : undefined,
          tokenFile: join(config.dataDir, API_TOKEN_FILE),
          redis: this.redis ? { url: this.redis.shownUrl, private: true, dir: this.redis.dir } : { url: redisUrl, private: false },
          cwd: this.options.cwd,
          defaultDataDir: resolve(this.options.cwd, '.data'),
          ops: { ingress: `http://${host}:${config.ingressOpsPort}`, dispatcher: `http://${host}:${config.dispatcherPort}`, relay: `http://${host}:${config.relayPort}` },
          sandbox: await sandboxInfo(`http://${host}:${config.dispatcherPort}/healthz`),
        },
        this.options.style,
      ),
    );
  }

  /**
   * Stops everything: the ingress and dispatcher, then the relay (so it can archive what they
   * wrote), then leftover sandboxes, then Redis. Safe to call more than once.
   */
  stop(): Promise<void> {
    this.stopped ??= this.doStop();
    return this.stopped;
  }

  private async doStop(): Promise<void> {
    const { config, output } = this.options;
    this.startup.abort(new Error('stopping'));
    // Let a start in progress reach a point where everything it started is known.
    await this.starting?.catch(() => {});
    const grace = config.shutdownTimeoutMs + 2000;
    const byName = (name: string) => this.services.filter((s) => s.name === name);
    const first = this.services.filter((s) => s.name !== 'relay');
    await Promise.all(first.map((s) => s.stop(grace)));
    await Promise.all(byName('relay').map((s) => s.stop(grace)));
    const sandboxes = await killSandboxes(config.dataDir);
    if (sandboxes.length > 0) output.say(`stopped ${sandboxes.length} sandbox${sandboxes.length === 1 ? '' : 'es'} still running`);
    await this.redis?.stop();
    this.pidFiles.remove('supervisor', process.pid);
  }

  /** Kills everything at once with SIGKILL (the second Ctrl-C). */
  forceStop(): void {
    this.startup.abort(new Error('stopping'));
    for (const service of this.services) service.kill();
    killSandboxesNow(this.options.config.dataDir);
    this.redis?.process.kill();
    this.pidFiles.remove('supervisor', process.pid);
  }
}
