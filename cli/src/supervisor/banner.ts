import { ANTHROPIC_CREDENTIAL_VARS, type Config } from '@agentq/shared';
import type { Style } from '../render/style.js';

export interface BannerInfo {
  config: Config;
  env: NodeJS.ProcessEnv;
  /** The token to print when it was generated; undefined when tokens are configured. */
  generatedToken: string | undefined;
  tokenFile: string;
  redis: { url: string; private: boolean; dir?: string };
  /** The shell's working directory: decides which variables the CLI needs to find agentq. */
  cwd: string;
  defaultDataDir: string;
  /** Base URLs of the private /healthz, /readyz, /metrics of the ingress, dispatcher and relay. */
  ops: { ingress: string; dispatcher: string; relay: string };
  /** What the dispatcher's `/healthz` says of its sandboxes, when it said. */
  sandbox?: SandboxInfo;
}

/** The `sandbox` part of the dispatcher's `/healthz`. */
export interface SandboxInfo {
  provider: string;
  isolation?: { mode: string; note?: string };
}

/** The banner's sandbox row, and a warning when agents run unisolated. */
export function sandboxRow(sandbox: SandboxInfo | undefined): { text: string; warning?: string } {
  if (!sandbox) return { text: 'unknown (the dispatcher did not say)' };
  const mode = sandbox.isolation?.mode;
  if (mode === 'bwrap') return { text: `${sandbox.provider}, agents isolated with bubblewrap` };
  if (mode === 'none') {
    return {
      text: `${sandbox.provider}, agents NOT isolated`,
      warning: `AGENTS RUN UNISOLATED: they can read and write everything this user can, agentq's data dir included (${sandbox.isolation?.note ?? 'no reason given'}). Install bubblewrap (apt-get install bubblewrap) and restart.`,
    };
  }
  return { text: sandbox.provider };
}

/** Why the default harness is what it is. */
export function harnessReason(config: Config, env: NodeJS.ProcessEnv): string {
  if (env.AGENTQ_HARNESS) return `${config.harness} (set by AGENTQ_HARNESS)`;
  if (config.harness === 'demo') {
    return `demo: no Anthropic credentials configured (set ${ANTHROPIC_CREDENTIAL_VARS.join(', ')} to run Claude Code)`;
  }
  const anthropic = config.gateway.anthropic;
  const found = [...(anthropic?.apiKey ? ['ANTHROPIC_API_KEY'] : []), ...(anthropic?.authToken ? ['ANTHROPIC_AUTH_TOKEN'] : [])];
  return `claude-code: the model gateway has Anthropic credentials (${found.join(', ')})`;
}

/** The variables the CLI needs, in this shell, to reach this agentq. */
export function cliEnvPrefix(info: BannerInfo): string {
  const vars: string[] = [];
  if (info.config.port !== 8080) vars.push(`AGENTQ_PORT=${info.config.port}`);
  if (info.config.dataDir !== info.defaultDataDir) vars.push(`AGENTQ_DATA_DIR=${info.config.dataDir}`);
  if (!info.generatedToken) vars.push('AGENTQ_TOKEN=<your token>');
  return vars.length > 0 ? `${vars.join(' ')} ` : '';
}

/** What `npm start` prints once everything is ready. */
export function formatBanner(info: BannerInfo, style: Style): string {
  const { config } = info;
  const rows: [string, string][] = [
    ['API URL', config.publicUrl],
    ['viewer', `${config.publicUrl}/tasks/<id>?key=…  (each task's viewerUrl carries its key)`],
    [
      'API token',
      info.generatedToken
        ? `${info.generatedToken}  (saved in ${info.tokenFile}, where the CLI finds it)`
        : 'configured in AGENTQ_API_TOKENS (give it to the CLI with AGENTQ_TOKEN)',
    ],
    ['harness', harnessReason(config, info.env)],
    ['sandboxes', sandboxRow(info.sandbox).text],
    ['data dir', config.dataDir],
    ['redis', info.redis.private ? `${info.redis.url}  (private, data in ${info.redis.dir ?? ''})` : 'REDIS_URL'],
    ['ops', `ingress ${info.ops.ingress}, dispatcher ${info.ops.dispatcher}, relay ${info.ops.relay} (/healthz /readyz /metrics)`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  const lines = [
    '',
    style.bold(style.green('agentq is running')),
    ...rows.map(([label, value]) => `  ${style.dim(label.padEnd(width))}  ${value}`),
  ];
  const isolationWarning = sandboxRow(info.sandbox).warning;
  if (isolationWarning) lines.push(style.bold(style.yellow(`  warning: ${isolationWarning}`)));
  if (config.missingSandboxVars.length > 0) {
    lines.push(style.yellow(`  warning: AGENTQ_SANDBOX_ENV names unset variables: ${config.missingSandboxVars.join(', ')}`));
  }
  lines.push(
    '',
    'Try it:',
    `  ${style.cyan(`${cliEnvPrefix(info)}npx agentq submit demo/hello "add a CONTRIBUTING.md" --follow`)}`,
    '',
    'Stop with Ctrl-C.',
    '',
  );
  return `${lines.join('\n')}\n`;
}
