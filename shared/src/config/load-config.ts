import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { AgentqError } from '../errors.js';
import { archiveUrl, type ArchiveConfig } from '../storage/archive-location.js';
import type { SlotLimits } from '../limits/slot-limits.js';
import { isCallbackHostPattern } from '../tasks/callback-url.js';
import type { HarnessName } from '../tasks/task-request.js';
import { secretSettingValues } from './secret-values.js';
import { DEFAULT_SANDBOX_VARS, MODEL_KEY_VARS, SETTINGS, type EnvValues } from './settings.js';


export interface ApiToken {
  token: string;
  team: string;
}

/** A secret that signs webhooks (`X-Agentq-Signature`) for a team. */
export interface WebhookSecret {
  /** Secret: never log this. */
  secret: string;
  team: string;
}

/** The loaded configuration of any agentq service. */
export interface Config {
  redisUrl: string | undefined;
  redisPrefix: string;
  dataDir: string;
  host: string;
  port: number;
  publicUrl: string;
  ingressOpsPort: number;
  dispatcherPort: number;
  relayPort: number;
  /** Where finished transcripts are kept (`AGENTQ_ARCHIVE_URL`), and for S3 how to connect. */
  archive: ArchiveConfig;
  apiTokens: ApiToken[] | undefined;
  viewerSecret: string | undefined;
  /** The operators' pages under `/admin`; undefined: not served. */
  admin: AdminConfig | undefined;
  /** Secrets of signed webhooks, with their teams; empty: signed requests are refused. */
  webhookSecrets: WebhookSecret[];
  /** Completion callbacks; undefined: off (a `callbackUrl` is refused). */
  callbacks: CallbackConfig | undefined;
  sandboxProvider: SandboxProviderName;
  /** What `docker` and `modal` sandboxes get, and how ended sandboxes are swept. */
  sandbox: SandboxConfig;
  local: LocalConfig;
  gateway: GatewayConfig;
  docker: DockerConfig;
  modal: ModalConfig;
  harness: HarnessName;
  /** The `command` harness's command line, as written. */
  harnessCommand: string | undefined;
  claudeBin: string;
  claudeModel: string | undefined;
  claudePermissionMode: 'bypassPermissions' | 'acceptEdits' | 'default' | 'plan';
  maxTurns: number;
  /** Names and values of the variables passed into sandboxes. Secret: never log this. */
  sandboxSecrets: Record<string, string>;
  /** Names listed in AGENTQ_SANDBOX_ENV that are not set in this environment. */
  missingSandboxVars: string[];
  taskTimeoutSec: number;
  /** Daily USD cap per team (UTC days); a team not in it has none. */
  teamDailyUsd: Record<string, number>;
  dispatcherConcurrency: number;
  /** Caps on the sandboxes alive at once across all dispatchers (the slot ledger). */
  limits: SlotLimits;
  /** How long a concurrency slot lasts without renewal by its dispatcher. */
  slotLeaseMs: number;
  /** Longest time before a task waiting for a slot looks again. */
  slotRecheckMs: number;
  /** How long a dispatcher's lock on a running task's job lasts without renewal. */
  dispatcherLockMs: number;
  /** How often dispatchers look for jobs whose lock expired (their dispatcher died). */
  dispatcherStalledIntervalMs: number;
  maxPromptChars: number;
  bodyLimitBytes: number;
  idempotencyTtlSec: number;
  eventsTtlSec: number;
  /** Caps and sizing of live event streams (SSE). */
  sse: {
    maxStreams: number;
    maxPerAddress: number;
    maxPerTeam: number;
    maxPerViewerKey: number;
    redisConnections: number;
    clientBuffer: number;
  };
  gitAuthorName: string;
  gitAuthorEmail: string;
  relayConsumer: string;
  relayClaimIdleMs: number;
  shutdownTimeoutMs: number;
  logLevel: string;
  logPretty: boolean;
  demoDelayMs: number;
  /** Undefined when Slack is not configured. */
  slack: SlackConfig | undefined;
  /** Undefined when no GitHub App is configured. */
  github: GitHubConfig | undefined;
  /**
   * Every secret value: those of the settings the table marks secret, the sandbox variables, and
   * the GitHub App key read from its file. What each service's redactor hides. Never log this.
   */
  secrets: string[];
}

/** Who may open the operators' pages, and what the queue dashboard may do. */
export interface AdminConfig {
  /** Secret: never log this. */
  tokens: string[];
  /** The queue dashboard may change jobs and the queue (off: read-only). */
  queueWrite: boolean;
}

/** Completion callbacks: where they may go and the key that signs them. */
export interface CallbackConfig {
  /** Secret: never log this. */
  secret: string;
  /** Hosts (or `*.domain`) a `callbackUrl` may point to. */
  hosts: string[];
}

export type SandboxProviderName = 'local' | 'docker' | 'modal';

export interface SandboxConfig {
  image: string;
  cpu: number;
  memoryMb: number;
  /** `uid:gid` that setup commands and the agent run as (the run script runs as root); undefined: the image's user. */
  agentUser: string | undefined;
  /** Domains sandboxes may reach; undefined: no limit. */
  allowedDomains: string[] | undefined;
  keepHours: number;
  sweepIntervalSec: number;
}

/** The model gateway on the ingress: the only holder of model credentials (see docs/gateway.md). */
export interface GatewayConfig {
  /** Base URL sandboxes reach the gateway at (`<url>/llm/anthropic`, `<url>/llm/openai`). */
  url: string;
  /** Anthropic upstream; undefined when no Anthropic credential is configured. Secret: never log. */
  anthropic: { apiKey: string | undefined; authToken: string | undefined; baseUrl: string } | undefined;
  /** OpenAI upstream; undefined without `OPENAI_API_KEY`. Secret: never log. */
  openai: { apiKey: string; baseUrl: string } | undefined;
  /** `AGENTQ_MODEL_PRICES`: prices that replace or add to the built-in table. */
  pricesFile: string | undefined;
  /** USD per million tokens of a model missing from the table. */
  defaultPrice: { input: number; output: number };
  /** Calls per minute of one task, and of one team's tasks together. */
  taskRpm: number;
  teamRpm: number;
}

export interface LocalConfig {
  /** Undefined: bubblewrap where it works, else none. */
  isolation: 'bwrap' | 'none' | undefined;
  /** Paths an isolated agent may read besides the system directories. */
  readPaths: string[];
  /** Secret files the configuration names (the GitHub App key file): hidden from an isolated agent. */
  hide: string[];
}

export interface DockerConfig {
  /** Engine API address; undefined: `DOCKER_HOST` or the default socket. */
  host: string | undefined;
  network: string | undefined;
}

export interface ModalConfig {
  app: string;
  environment: string | undefined;
  tokenId: string | undefined;
  /** Secret. */
  tokenSecret: string | undefined;
  secretNames: string[];
  idleTimeoutSec: number | undefined;
}

export interface SlackConfig {
  /** Single workspace: the bot token. Secret. */
  botToken: string | undefined;
  signingSecret: string;
  /** Several workspaces (install flow): all three set. Secrets but the client id. */
  oauth: { clientId: string; clientSecret: string; stateSecret: string } | undefined;
  apiUrl: string;
  command: string;
  policyFile: string | undefined;
  statusIntervalMs: number;
}

export interface GitHubRepoRule {
  /** `owner/name`, `owner/*` or `*`. */
  pattern: string;
  team: string;
}

export interface GitHubConfig {
  appId: number;
  /** PEM. Secret. */
  privateKey: string;
  /** Secret; undefined: `/github/webhooks` is off. */
  webhookSecret: string | undefined;
  apiUrl: string;
  gitUrl: string;
  /** Undefined: every repository the App is installed on, team `default`. */
  repos: GitHubRepoRule[] | undefined;
  draftPrs: boolean;
  prLabels: string[];
  triggerLabel: string;
  autofix: GitHubAutofixConfig;
}

/** Automatic follow-ups of agentq's pull requests (a repository's `.agentq.yml` may override `ci`, `reviews` and lower `maxAttempts`). */
export interface GitHubAutofixConfig {
  ci: boolean;
  reviews: boolean;
  maxAttempts: number;
  noAutofixLabel: string;
  ciLogBytes: number;
}

export const DEFAULT_TEAM = 'default';

/** A domain name, optionally with a leading `*.` wildcard (outbound allowlists). */
export const DOMAIN_PATTERN = /^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export class ConfigError extends AgentqError {
  constructor(readonly problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const envSchema = z.object(Object.fromEntries(SETTINGS.map((s) => [s.env, s.schema])));

function parseTokens(entries: string[] | undefined, problems: string[]): ApiToken[] | undefined {
  if (!entries) return undefined;
  const out: ApiToken[] = [];
  entries.forEach((entry, i) => {
    const [token = '', team, ...rest] = entry.split(':');
    if (token.length < 16 || rest.length > 0 || (team !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(team))) {
      problems.push(
        `AGENTQ_API_TOKENS: entry ${i + 1} must be "token" or "token:team" with a token of at least 16 characters`,
      );
      return;
    }
    out.push({ token, team: team ?? DEFAULT_TEAM });
  });
  return out;
}

/** A webhook secret is long enough that guessing it is hopeless. */
export const MIN_WEBHOOK_SECRET_CHARS = 32;

function parseWebhookSecrets(entries: string[] | undefined, problems: string[]): WebhookSecret[] {
  const out: WebhookSecret[] = [];
  const seen = new Set<string>();
  (entries ?? []).forEach((entry, i) => {
    const [secret = '', team, ...rest] = entry.split(':');
    if (secret.length < MIN_WEBHOOK_SECRET_CHARS || rest.length > 0 || (team !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(team))) {
      problems.push(
        `AGENTQ_WEBHOOK_SECRETS: entry ${i + 1} must be "secret" or "secret:team" with a secret of at least ${MIN_WEBHOOK_SECRET_CHARS} characters`,
      );
      return;
    }
    if (seen.has(secret)) {
      problems.push(`AGENTQ_WEBHOOK_SECRETS: entry ${i + 1} repeats the secret of an earlier entry (one secret, one team)`);
      return;
    }
    seen.add(secret);
    out.push({ secret, team: team ?? DEFAULT_TEAM });
  });
  return out;
}

function parseTeamCaps(entries: string[] | undefined, problems: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  (entries ?? []).forEach((entry, i) => {
    const match = /^([A-Za-z0-9_.-]{1,64}):(\d+(?:\.\d+)?)$/.exec(entry);
    const usd = Number(match?.[2]);
    if (!match?.[1] || !Number.isFinite(usd)) {
      problems.push(`AGENTQ_TEAM_DAILY_USD: entry ${i + 1} must be "team:usd" (e.g. "default:50")`);
      return;
    }
    out[match[1]] = usd;
  });
  return out;
}

function parseTeamLimits(entries: string[] | undefined, problems: string[]): Pick<SlotLimits, 'team' | 'otherTeams'> {
  const team: Record<string, number> = {};
  let otherTeams: number | undefined;
  (entries ?? []).forEach((entry, i) => {
    const match = /^([A-Za-z0-9_.-]{1,64}|\*):(\d{1,6})$/.exec(entry);
    const n = Number(match?.[2]);
    if (!match?.[1] || !(n >= 1)) {
      problems.push(`AGENTQ_TEAM_MAX_RUNNING: entry ${i + 1} must be "team:n" or "*:n" with n at least 1 (e.g. "default:4")`);
      return;
    }
    if (match[1] === '*') otherTeams = n;
    else team[match[1]] = n;
  });
  return { team, otherTeams };
}

/**
 * Reads the configuration from an environment. Every problem is reported at once; values are
 * never echoed (some are secrets).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string> = {};
  for (const s of SETTINGS) {
    const value = env[s.env];
    if (value !== undefined && value !== '') input[s.env] = value;
  }
  const parsed = envSchema.safeParse(input);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`${issue.path.join('.')}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const v = parsed.data as EnvValues;

  const sandboxVars = v.AGENTQ_SANDBOX_ENV ?? DEFAULT_SANDBOX_VARS.filter((name) => env[name]);
  const sandboxSecrets: Record<string, string> = {};
  if (v.AGENTQ_INGRESS_OPS_PORT !== 0 && v.AGENTQ_INGRESS_OPS_PORT === v.AGENTQ_PORT) {
    problems.push(`AGENTQ_INGRESS_OPS_PORT: must differ from AGENTQ_PORT (${v.AGENTQ_PORT}): /metrics is served on the private port only`);
  }
  const missingSandboxVars: string[] = [];
  for (const name of sandboxVars) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      problems.push(`AGENTQ_SANDBOX_ENV: ${JSON.stringify(name)} is not a variable name`);
      continue;
    }
    if (MODEL_KEY_VARS.includes(name)) {
      problems.push(`AGENTQ_SANDBOX_ENV: ${name} is a model key, which must not enter sandboxes: set it for the ingress, whose model gateway gives each task's sandbox a token of its own (docs/gateway.md)`);
      continue;
    }
    const value = env[name];
    if (value === undefined || value === '') missingSandboxVars.push(name);
    else sandboxSecrets[name] = value;
  }
  const apiTokens = parseTokens(v.AGENTQ_API_TOKENS, problems);
  const webhookSecrets = parseWebhookSecrets(v.AGENTQ_WEBHOOK_SECRETS, problems);
  const teamDailyUsd = parseTeamCaps(v.AGENTQ_TEAM_DAILY_USD, problems);
  const teamLimits = parseTeamLimits(v.AGENTQ_TEAM_MAX_RUNNING, problems);
  const callbacks = callbackConfig(v, problems);
  const slack = slackConfig(v, problems);
  const github = githubConfig(v, problems);
  const archive = archiveConfig(v, problems);
  if (v.AGENTQ_HARNESS === 'command' && v.AGENTQ_HARNESS_COMMAND === undefined) {
    problems.push('AGENTQ_HARNESS_COMMAND: required when AGENTQ_HARNESS is `command`');
  }
  for (const domain of v.AGENTQ_SANDBOX_ALLOWED_DOMAINS ?? []) {
    if (!DOMAIN_PATTERN.test(domain)) problems.push(`AGENTQ_SANDBOX_ALLOWED_DOMAINS: ${JSON.stringify(domain)} is not a domain name (a leading \`*.\` is allowed)`);
  }
  if ((v.MODAL_TOKEN_ID === undefined) !== (v.MODAL_TOKEN_SECRET === undefined)) {
    problems.push('MODAL_TOKEN_ID, MODAL_TOKEN_SECRET: set both, or neither (the Modal profile file is used then)');
  }
  for (const name of v.AGENTQ_MODAL_SECRETS ?? []) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) problems.push(`AGENTQ_MODAL_SECRETS: ${JSON.stringify(name)} is not a Modal Secret name`);
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const gateway = gatewayConfig(v);
  const hasAnthropic = gateway.anthropic !== undefined;
  return {
    redisUrl: v.REDIS_URL,
    redisPrefix: v.AGENTQ_REDIS_PREFIX,
    dataDir: resolve(v.AGENTQ_DATA_DIR),
    host: v.AGENTQ_HOST,
    port: v.AGENTQ_PORT,
    publicUrl: (v.AGENTQ_PUBLIC_URL ?? `http://localhost:${v.AGENTQ_PORT}`).replace(/\/+$/, ''),
    ingressOpsPort: v.AGENTQ_INGRESS_OPS_PORT,
    dispatcherPort: v.AGENTQ_DISPATCHER_PORT,
    relayPort: v.AGENTQ_RELAY_PORT,
    archive,
    apiTokens,
    viewerSecret: v.AGENTQ_VIEWER_SECRET,
    admin: v.AGENTQ_ADMIN_TOKENS && v.AGENTQ_ADMIN_TOKENS.length > 0 ? { tokens: v.AGENTQ_ADMIN_TOKENS, queueWrite: v.AGENTQ_ADMIN_QUEUE_WRITE } : undefined,
    webhookSecrets,
    callbacks,
    sandboxProvider: v.AGENTQ_SANDBOX_PROVIDER,
    sandbox: {
      image: v.AGENTQ_SANDBOX_IMAGE,
      cpu: v.AGENTQ_SANDBOX_CPU,
      memoryMb: v.AGENTQ_SANDBOX_MEMORY_MB,
      // set empty: no switch (an empty value is otherwise the same as an unset one)
      agentUser: env.AGENTQ_SANDBOX_AGENT_USER === '' ? undefined : v.AGENTQ_SANDBOX_AGENT_USER,
      allowedDomains: v.AGENTQ_SANDBOX_ALLOWED_DOMAINS,
      keepHours: v.AGENTQ_SANDBOX_KEEP_HOURS,
      sweepIntervalSec: v.AGENTQ_SWEEP_INTERVAL_SEC,
    },
    local: {
      isolation: v.AGENTQ_LOCAL_ISOLATION,
      readPaths: v.AGENTQ_LOCAL_READ_PATHS ?? [],
      hide: v.GITHUB_APP_PRIVATE_KEY_PATH ? [resolve(v.GITHUB_APP_PRIVATE_KEY_PATH)] : [],
    },
    docker: { host: v.AGENTQ_DOCKER_HOST, network: v.AGENTQ_DOCKER_NETWORK },
    modal: {
      app: v.AGENTQ_MODAL_APP,
      environment: v.AGENTQ_MODAL_ENVIRONMENT,
      tokenId: v.MODAL_TOKEN_ID,
      tokenSecret: v.MODAL_TOKEN_SECRET,
      secretNames: v.AGENTQ_MODAL_SECRETS ?? [],
      idleTimeoutSec: v.AGENTQ_MODAL_IDLE_TIMEOUT_SEC,
    },
    harness: v.AGENTQ_HARNESS ?? (hasAnthropic ? 'claude-code' : 'demo'),
    harnessCommand: v.AGENTQ_HARNESS_COMMAND,
    claudeBin: v.AGENTQ_CLAUDE_BIN,
    claudeModel: v.AGENTQ_CLAUDE_MODEL,
    claudePermissionMode: v.AGENTQ_CLAUDE_PERMISSION_MODE,
    maxTurns: v.AGENTQ_MAX_TURNS,
    sandboxSecrets,
    missingSandboxVars,
    taskTimeoutSec: v.AGENTQ_TASK_TIMEOUT_SEC,
    teamDailyUsd,
    dispatcherConcurrency: v.AGENTQ_DISPATCHER_CONCURRENCY,
    limits: { global: v.AGENTQ_MAX_RUNNING, ...teamLimits, repo: v.AGENTQ_REPO_MAX_RUNNING },
    slotLeaseMs: v.AGENTQ_SLOT_LEASE_MS,
    slotRecheckMs: v.AGENTQ_SLOT_RECHECK_MS,
    dispatcherLockMs: v.AGENTQ_DISPATCHER_LOCK_MS,
    dispatcherStalledIntervalMs: v.AGENTQ_DISPATCHER_STALLED_INTERVAL_MS,
    maxPromptChars: v.AGENTQ_MAX_PROMPT_CHARS,
    bodyLimitBytes: v.AGENTQ_BODY_LIMIT_BYTES,
    idempotencyTtlSec: v.AGENTQ_IDEMPOTENCY_TTL_SEC,
    eventsTtlSec: v.AGENTQ_EVENTS_TTL_SEC,
    sse: {
      maxStreams: v.AGENTQ_SSE_MAX_STREAMS,
      maxPerAddress: v.AGENTQ_SSE_MAX_STREAMS_PER_ADDRESS,
      maxPerTeam: v.AGENTQ_SSE_MAX_STREAMS_PER_TEAM,
      maxPerViewerKey: v.AGENTQ_SSE_MAX_STREAMS_PER_VIEWER_KEY,
      redisConnections: v.AGENTQ_SSE_REDIS_CONNECTIONS,
      clientBuffer: v.AGENTQ_SSE_CLIENT_BUFFER,
    },
    gitAuthorName: v.AGENTQ_GIT_AUTHOR_NAME,
    gitAuthorEmail: v.AGENTQ_GIT_AUTHOR_EMAIL,
    relayConsumer: v.AGENTQ_RELAY_CONSUMER,
    relayClaimIdleMs: v.AGENTQ_RELAY_CLAIM_IDLE_MS,
    shutdownTimeoutMs: v.AGENTQ_SHUTDOWN_TIMEOUT_MS,
    logLevel: v.AGENTQ_LOG_LEVEL,
    logPretty: v.AGENTQ_LOG_PRETTY,
    demoDelayMs: v.AGENTQ_DEMO_DELAY_MS,
    slack,
    github,
    gateway,
    secrets: [...new Set([...secretSettingValues(v), ...Object.values(sandboxSecrets), ...(github ? [github.privateKey] : [])])],
  };
}

function gatewayConfig(v: EnvValues): GatewayConfig {
  const [input = 15, output = 75] = v.AGENTQ_MODEL_DEFAULT_PRICE.split(',').map(Number);
  const publicUrl = (v.AGENTQ_PUBLIC_URL ?? `http://localhost:${v.AGENTQ_PORT}`).replace(/\/+$/, '');
  return {
    url: (v.AGENTQ_GATEWAY_URL ?? publicUrl).replace(/\/+$/, ''),
    anthropic:
      v.ANTHROPIC_API_KEY !== undefined || v.ANTHROPIC_AUTH_TOKEN !== undefined
        ? { apiKey: v.ANTHROPIC_API_KEY, authToken: v.ANTHROPIC_AUTH_TOKEN, baseUrl: (v.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com').replace(/\/+$/, '') }
        : undefined,
    openai: v.OPENAI_API_KEY !== undefined ? { apiKey: v.OPENAI_API_KEY, baseUrl: (v.OPENAI_BASE_URL ?? 'https://api.openai.com/v1').replace(/\/+$/, '') } : undefined,
    pricesFile: v.AGENTQ_MODEL_PRICES,
    defaultPrice: { input, output },
    taskRpm: v.AGENTQ_GATEWAY_TASK_RPM,
    teamRpm: v.AGENTQ_GATEWAY_TEAM_RPM,
  };
}

function callbackConfig(v: EnvValues, problems: string[]): CallbackConfig | undefined {
  const secret = v.AGENTQ_CALLBACK_SECRET;
  const hosts = v.AGENTQ_CALLBACK_HOSTS;
  if (secret === undefined && hosts === undefined) return undefined;
  if (secret === undefined || hosts === undefined || hosts.length === 0) {
    problems.push('AGENTQ_CALLBACK_SECRET, AGENTQ_CALLBACK_HOSTS: set both to turn completion callbacks on, or neither');
    return undefined;
  }
  const bad = hosts.filter((host) => !isCallbackHostPattern(host));
  for (const host of bad) problems.push(`AGENTQ_CALLBACK_HOSTS: ${JSON.stringify(host)} is not a host name or IP address (a leading \`*.\` is allowed)`);
  return bad.length > 0 ? undefined : { secret, hosts };
}

function archiveConfig(v: EnvValues, problems: string[]): ArchiveConfig {
  const location = v.AGENTQ_ARCHIVE_URL ?? { kind: 'file' as const, dir: join(resolve(v.AGENTQ_DATA_DIR), 'transcripts') };
  if ((v.AWS_ACCESS_KEY_ID === undefined) !== (v.AWS_SECRET_ACCESS_KEY === undefined)) {
    problems.push('AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: set both, or neither (the AWS SDK\'s credential chain is used then)');
  }
  if (v.AWS_SESSION_TOKEN !== undefined && v.AWS_ACCESS_KEY_ID === undefined) {
    problems.push('AWS_SESSION_TOKEN: set it with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
  }
  const url = archiveUrl(location);
  if (location.kind === 'file') return { ...location, url };
  const credentials =
    v.AWS_ACCESS_KEY_ID !== undefined && v.AWS_SECRET_ACCESS_KEY !== undefined
      ? { accessKeyId: v.AWS_ACCESS_KEY_ID, secretAccessKey: v.AWS_SECRET_ACCESS_KEY, ...(v.AWS_SESSION_TOKEN ? { sessionToken: v.AWS_SESSION_TOKEN } : {}) }
      : undefined;
  return {
    ...location,
    url,
    s3: { region: v.AWS_REGION, endpoint: v.AWS_ENDPOINT_URL_S3, forcePathStyle: v.AGENTQ_S3_FORCE_PATH_STYLE, credentials },
  };
}

function githubConfig(v: EnvValues, problems: string[]): GitHubConfig | undefined {
  const keySources = [v.GITHUB_APP_PRIVATE_KEY, v.GITHUB_APP_PRIVATE_KEY_PATH].filter((k) => k !== undefined).length;
  if (v.GITHUB_APP_ID === undefined) {
    if (keySources > 0 || v.GITHUB_WEBHOOK_SECRET !== undefined) problems.push('GITHUB_APP_ID: required with the other GITHUB_APP_* / GITHUB_WEBHOOK_SECRET variables');
    return undefined;
  }
  if (keySources !== 1) {
    problems.push('GITHUB_APP_PRIVATE_KEY or GITHUB_APP_PRIVATE_KEY_PATH: set exactly one with GITHUB_APP_ID');
    return undefined;
  }
  let privateKey = v.GITHUB_APP_PRIVATE_KEY?.replace(/\\n/g, '\n');
  if (v.GITHUB_APP_PRIVATE_KEY_PATH !== undefined) {
    try {
      privateKey = readFileSync(v.GITHUB_APP_PRIVATE_KEY_PATH, 'utf8');
    } catch (err) {
      problems.push(`GITHUB_APP_PRIVATE_KEY_PATH: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  }
  if (!privateKey || !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(privateKey)) {
    problems.push('GITHUB_APP_PRIVATE_KEY: must be the App\'s private key in PEM form');
    return undefined;
  }
  let repos: GitHubRepoRule[] | undefined;
  if (v.AGENTQ_GITHUB_REPOS) {
    repos = [];
    for (const entry of v.AGENTQ_GITHUB_REPOS) {
      const [pattern = '', team, ...rest] = entry.split(':');
      if (!/^(\*|[A-Za-z0-9][A-Za-z0-9._-]*\/(\*|[A-Za-z0-9._-]+))$/.test(pattern) || rest.length > 0 || (team !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(team))) {
        problems.push(`AGENTQ_GITHUB_REPOS: ${JSON.stringify(entry)} must be owner/name, owner/* or *, optionally :team`);
        continue;
      }
      repos.push({ pattern, team: team ?? DEFAULT_TEAM });
    }
  }
  return {
    appId: v.GITHUB_APP_ID,
    privateKey,
    webhookSecret: v.GITHUB_WEBHOOK_SECRET,
    apiUrl: v.GITHUB_API_URL.replace(/\/+$/, ''),
    gitUrl: v.GITHUB_GIT_URL.replace(/\/+$/, ''),
    repos,
    draftPrs: v.AGENTQ_GITHUB_DRAFT_PRS,
    prLabels: v.AGENTQ_GITHUB_PR_LABELS,
    triggerLabel: v.AGENTQ_GITHUB_TRIGGER_LABEL,
    autofix: {
      ci: v.AGENTQ_GITHUB_AUTOFIX_CI,
      reviews: v.AGENTQ_GITHUB_AUTOFIX_REVIEWS,
      maxAttempts: v.AGENTQ_GITHUB_MAX_FIX_ATTEMPTS,
      noAutofixLabel: v.AGENTQ_GITHUB_NO_AUTOFIX_LABEL,
      ciLogBytes: v.AGENTQ_GITHUB_CI_LOG_BYTES,
    },
  };
}

function slackConfig(v: EnvValues, problems: string[]): SlackConfig | undefined {
  const oauthParts = [v.SLACK_CLIENT_ID, v.SLACK_CLIENT_SECRET, v.SLACK_STATE_SECRET];
  const oauthSet = oauthParts.filter((p) => p !== undefined).length;
  if (oauthSet > 0 && oauthSet < 3) {
    problems.push('SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_STATE_SECRET: set all three for the install flow, or none');
  }
  const wanted = v.SLACK_BOT_TOKEN !== undefined || oauthSet > 0;
  if (!wanted) {
    if (v.SLACK_SIGNING_SECRET !== undefined) problems.push('SLACK_SIGNING_SECRET: set SLACK_BOT_TOKEN (one workspace) or the install flow variables too');
    return undefined;
  }
  if (v.SLACK_SIGNING_SECRET === undefined) {
    problems.push('SLACK_SIGNING_SECRET: required with SLACK_BOT_TOKEN or the install flow');
    return undefined;
  }
  return {
    botToken: v.SLACK_BOT_TOKEN,
    signingSecret: v.SLACK_SIGNING_SECRET,
    oauth:
      oauthSet === 3
        ? { clientId: v.SLACK_CLIENT_ID as string, clientSecret: v.SLACK_CLIENT_SECRET as string, stateSecret: v.SLACK_STATE_SECRET as string }
        : undefined,
    apiUrl: v.SLACK_API_URL.endsWith('/') ? v.SLACK_API_URL : `${v.SLACK_API_URL}/`,
    command: v.AGENTQ_SLACK_COMMAND,
    policyFile: v.AGENTQ_SLACK_POLICY_FILE,
    statusIntervalMs: v.AGENTQ_SLACK_STATUS_INTERVAL_MS,
  };
}

/** Every secret value of a configuration: what each service's redactor must hide. */
export function configSecrets(config: Config): string[] {
  return [...config.secrets];
}

/** Redis URL or a clear error telling how to get one. */
export function requireRedisUrl(config: Config): string {
  if (!config.redisUrl) {
    throw new ConfigError(['REDIS_URL: required when a service runs on its own (npm start provides one)']);
  }
  return config.redisUrl;
}
