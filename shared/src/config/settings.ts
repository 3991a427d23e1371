import { hostname } from 'node:os';
import { z } from 'zod';
import { parseArchiveUrl } from '../storage/archive-location.js';
import { harnessNameSchema } from '../tasks/task-request.js';

/**
 * Every environment variable agentq reads, with its schema and the text of its row in the
 * configuration table of `docs/configuration.md` (links relative to `docs/`; written by
 * `npm run docs`, checked by a test).
 */
export interface Setting {
  env: string;
  schema: z.ZodType;
  /** Default as shown in the docs (the schema applies the real one). */
  shown: string;
  doc: string;
  secret?: boolean;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const list = z
  .string()
  .transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );
const archiveUrl = z.string().transform((value, ctx) => {
  const parsed = parseArchiveUrl(value);
  if (parsed.ok) return parsed.location;
  ctx.addIssue({ code: 'custom', message: parsed.problem });
  return z.NEVER;
});

/** The model gateway's Anthropic credentials: either configured means Claude Code can run. */
export const ANTHROPIC_CREDENTIAL_VARS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN'];
/**
 * Model credentials, which the model gateway alone holds: naming one in `AGENTQ_SANDBOX_ENV` is a
 * configuration error (sandboxes get a per-task gateway token instead).
 */
export const MODEL_KEY_VARS = ['ANTHROPIC_API_KEY', 'ANTHROPIC_AUTH_TOKEN', 'CLAUDE_CODE_OAUTH_TOKEN', 'OPENAI_API_KEY', 'CODEX_API_KEY'];
/** Passed into sandboxes by default when set and `AGENTQ_SANDBOX_ENV` is unset: none (model keys stay in the gateway). */
export const DEFAULT_SANDBOX_VARS: string[] = [];

export const SETTINGS = [
  { env: 'REDIS_URL', schema: z.url({ protocol: /^rediss?$/ }).optional(), shown: '—', secret: true, doc: 'Redis to use, e.g. `redis://localhost:6379/0`. `npm start` runs a private `redis-server` when unset (on 127.0.0.1, with a password generated at each start); the services started on their own require it.' },
  { env: 'AGENTQ_REDIS_PREFIX', schema: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/).default('agentq'), shown: '`agentq`', doc: 'Prefix of every Redis key, BullMQ queues included.' },
  { env: 'AGENTQ_DATA_DIR', schema: z.string().min(1).default('./.data'), shown: '`./.data`', doc: 'Local state: the local git forge (`repos/`), sandboxes, transcripts, generated API token, `npm start`\'s Redis.' },
  { env: 'AGENTQ_HOST', schema: z.string().min(1).default('127.0.0.1'), shown: '`127.0.0.1`', doc: 'Address the HTTP servers listen on (`0.0.0.0` in containers).' },
  { env: 'AGENTQ_PORT', schema: int(0, 65535).default(8080), shown: '`8080`', doc: 'Public port of the ingress (task API, web pages, webhooks, model gateway, `/healthz`, `/readyz`).' },
  { env: 'AGENTQ_INGRESS_OPS_PORT', schema: int(0, 65535).default(8083), shown: '`8083`', doc: 'Private port of the ingress\'s `/healthz`, `/readyz` and `/metrics` (the metrics name teams, so they are never served on the public port). `0` picks a free port.' },
  { env: 'AGENTQ_PUBLIC_URL', schema: z.url({ protocol: /^https?$/ }).optional(), shown: '`http://localhost:<AGENTQ_PORT>`', doc: 'Base URL people reach the ingress at; used in `statusUrl` and `viewerUrl`.' },
  { env: 'AGENTQ_DISPATCHER_PORT', schema: int(0, 65535).default(8081), shown: '`8081`', doc: 'Port of the dispatcher\'s `/healthz`, `/readyz`, `/metrics`.' },
  { env: 'AGENTQ_RELAY_PORT', schema: int(0, 65535).default(8082), shown: '`8082`', doc: 'Port of the log relay\'s `/healthz`, `/readyz`, `/metrics`.' },
  { env: 'AGENTQ_API_TOKENS', schema: list.optional(), shown: 'generated', secret: true, doc: 'Comma-separated API tokens, each `token` or `token:team`. When unset, one token is generated, stored in `<AGENTQ_DATA_DIR>/api-token` and printed at start.' },
  { env: 'AGENTQ_WEBHOOK_SECRETS', schema: list.optional(), shown: 'none: signed requests are refused', secret: true, doc: 'Comma-separated secrets of signed webhooks, each `secret` or `secret:team` (team `default` when absent), each secret at least 32 characters without `,` or `:`. A `POST /v1/tasks` or `POST /v1/tasks/:id/cancel` carrying a valid `X-Agentq-Signature` made with one acts for its team, as an API token of that team would. See [Signed webhooks](api.md#signed-webhooks).' },
  { env: 'AGENTQ_CALLBACK_SECRET', schema: z.string().min(32, 'must be at least 32 characters').optional(), shown: '—', secret: true, doc: 'Key that signs completion callbacks (`X-Agentq-Signature`, as signed webhooks are signed), at least 32 characters. With `AGENTQ_CALLBACK_HOSTS`, turns completion callbacks (`callbackUrl`) on. See [Completion callbacks](api.md#completion-callbacks).' },
  { env: 'AGENTQ_CALLBACK_HOSTS', schema: list.optional(), shown: 'none: callbacks are off', doc: 'Comma-separated hosts a task\'s `callbackUrl` may point to: `host`, `host:port` or `host:*` (any port); `*.example.com` for every name under a domain; IP addresses allowed, IPv6 in brackets when a port follows (`[::1]:8080`). An entry without a port allows the scheme\'s default only (443 for `https`, 80 for `http`): `hooks.example.com:8443` is needed for `https://hooks.example.com:8443/`. Any other host or port is refused (`422 INGRESS_CALLBACK_NOT_ALLOWED`, `details.reason` `host_not_allowed` or `port`). `https` only, except `http` to `localhost`, `127.0.0.1` and `::1`. The relay also refuses to connect when the host resolves to a private, link-local or loopback address; see [Completion callbacks](operations.md#completion-callback-addresses).' },
  { env: 'AGENTQ_VIEWER_SECRET', schema: z.string().min(16).optional(), shown: 'generated', secret: true, doc: 'Key that signs viewer links. When unset, generated and stored in `<AGENTQ_DATA_DIR>/viewer-secret`.' },
  { env: 'AGENTQ_ADMIN_TOKENS', schema: list.pipe(z.array(z.string().regex(/^[\x21-\x7e]{24,}$/, 'each token must be at least 24 printable characters without spaces'))).optional(), shown: 'none: no `/admin`', secret: true, doc: 'Comma-separated admin tokens of the operators\' pages under `/admin` (the [queue dashboard](operations.md#queue-dashboard) at `/admin/queues`), each at least 24 characters. Sent as `Authorization: Bearer <token>`, or through the sign-in form at `/admin/sign-in`, which sets a cookie. Unset, nothing is served under `/admin` (404).' },
  { env: 'AGENTQ_ADMIN_QUEUE_WRITE', schema: bool.default(false), shown: '`false`', doc: 'Lets the queue dashboard change the queue (retry, promote, remove, clean jobs, pause). Off, it only shows it: every such action is refused with `405`.' },
  { env: 'AGENTQ_SANDBOX_PROVIDER', schema: z.enum(['local', 'docker', 'modal']).default('local'), shown: '`local`', doc: 'Where agents run: `local` (a process group per task on this machine), `docker` (a container per task through the Docker Engine API) or `modal` (a Modal Sandbox per task). See [Sandbox providers](sandboxes.md#sandbox-providers).' },
  { env: 'AGENTQ_LOCAL_ISOLATION', schema: z.enum(['bwrap', 'none']).optional(), shown: '`bwrap` where it works, else `none`', doc: 'How `local` sandboxes isolate the agent and the repository\'s setup commands: `bwrap` runs them under bubblewrap (their own user, pid and mount namespaces; only the task\'s working tree, home and `/tmp` writable; nothing else of the data dir visible), `none` as plain processes of this machine\'s user. `bwrap` when bubblewrap is not installed or does not work is an error at start; unset, agentq uses it when it works and says loudly when it does not. See [Isolation of local sandboxes](sandboxes.md#isolation-of-local-sandboxes).' },
  { env: 'AGENTQ_LOCAL_READ_PATHS', schema: list.pipe(z.array(z.string().startsWith('/', 'must be an absolute path'))).optional(), shown: '—', doc: 'Comma-separated absolute paths an isolated `local` agent may read besides the system directories, Node and its own CLI (a toolchain in your home, say). Paths inside the data dir are never shown.' },
  { env: 'AGENTQ_SANDBOX_IMAGE', schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/, 'must be an image reference').default('agentq-sandbox:latest'), shown: '`agentq-sandbox:latest`', doc: 'Image of `docker` and `modal` sandboxes (a repository\'s `.agentq.yml` may name another). Build it from `deploy/sandbox/Dockerfile`; for `modal`, push it to a registry Modal can pull from.' },
  { env: 'AGENTQ_SANDBOX_AGENT_USER', schema: z.string().regex(/^\d{1,10}:\d{1,10}$/, 'must be uid:gid (numbers), or empty').default('1000:1000'), shown: '`1000:1000`', doc: 'Numeric `uid:gid` that setup commands and the agent run as in `docker` and `modal` sandboxes, where the run script runs as root: it hands them the working tree, the home and `TMPDIR`, and keeps the git token and its own git dir from them. `1000:1000` is the `node` user of the image of `deploy/sandbox/Dockerfile`; an image of your own needs that user with a home, or another value here. Set it empty to run them as the image\'s user. See [What the agent can and cannot do](sandboxes.md#what-the-agent-can-and-cannot-do).' },
  { env: 'AGENTQ_SANDBOX_CPU', schema: z.coerce.number().min(0.125).max(64).default(1), shown: '`1`', doc: 'CPU cores of a `docker` or `modal` sandbox (fractions allowed).' },
  { env: 'AGENTQ_SANDBOX_MEMORY_MB', schema: int(128, 262_144).default(2048), shown: '`2048`', doc: 'Memory of a `docker` or `modal` sandbox, in MiB.' },
  { env: 'AGENTQ_SANDBOX_ALLOWED_DOMAINS', schema: list.optional(), shown: 'no limit', doc: 'Comma-separated domains sandboxes may reach (`*.example.com` allowed), plus those a repository\'s `.agentq.yml` adds. Enforced by `modal` only: `docker` sandboxes get the network of `AGENTQ_DOCKER_NETWORK`, `local` ones the machine\'s.' },
  { env: 'AGENTQ_SANDBOX_KEEP_HOURS', schema: int(0, 24 * 365).default(72), shown: '`72`', doc: 'How long what an ended sandbox keeps (its home with the agent\'s session, for follow-ups; its output) stays before the sweeper removes it.' },
  { env: 'AGENTQ_SWEEP_INTERVAL_SEC', schema: int(10, 24 * 3600).default(300), shown: '`300`', doc: 'How often a dispatcher looks for orphaned sandboxes (running, but their task is final or unknown: terminated) and for ended ones past `AGENTQ_SANDBOX_KEEP_HOURS` (removed). One dispatcher sweeps at a time.' },
  { env: 'AGENTQ_DOCKER_HOST', schema: z.string().regex(/^(unix|tcp|http|https):\/\/\S+$/, 'must be unix://, tcp://, http:// or https://').optional(), shown: '`DOCKER_HOST`, else `unix:///var/run/docker.sock`', doc: 'Docker Engine API the `docker` provider talks to.' },
  { env: 'AGENTQ_DOCKER_NETWORK', schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/).optional(), shown: 'Docker\'s default (`bridge`)', doc: 'Network of `docker` sandboxes: `none`, `bridge`, `host` or the name of a network (e.g. one whose only way out is an egress proxy).' },
  { env: 'MODAL_TOKEN_ID', schema: z.string().min(1).optional(), shown: '`~/.modal.toml`', doc: 'Modal token id of the `modal` provider (with `MODAL_TOKEN_SECRET`; otherwise the Modal profile file is used).' },
  { env: 'MODAL_TOKEN_SECRET', schema: z.string().min(1).optional(), shown: '`~/.modal.toml`', secret: true, doc: 'Modal token secret of the `modal` provider.' },
  { env: 'AGENTQ_MODAL_APP', schema: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/).default('agentq'), shown: '`agentq`', doc: 'Modal App the sandboxes run in (created when missing).' },
  { env: 'AGENTQ_MODAL_ENVIRONMENT', schema: z.string().min(1).max(64).optional(), shown: 'the profile\'s', doc: 'Modal environment of the App.' },
  { env: 'AGENTQ_MODAL_SECRETS', schema: list.optional(), shown: '—', doc: 'Comma-separated names of Modal Secrets attached to every sandbox (kept in Modal; agentq never sees their values), besides the variables of `AGENTQ_SANDBOX_ENV`.' },
  { env: 'AGENTQ_MODAL_IDLE_TIMEOUT_SEC', schema: int(10, 24 * 3600).optional(), shown: 'none', doc: 'Modal ends a sandbox idle this long. A sandbox is busy while its dispatcher reads its output, so this ends sandboxes no dispatcher follows.' },
  { env: 'AGENTQ_HARNESS', schema: harnessNameSchema.optional(), shown: '`demo` without Anthropic credentials, else `claude-code`', doc: 'Default coding agent for tasks that do not name one: `claude-code`, `codex`, `command` or `demo`.' },
  { env: 'AGENTQ_HARNESS_COMMAND', schema: z.string().trim().min(1).optional(), shown: '—', doc: 'Command line of the `command` harness (split like a shell does, without expansions): any program run in the repository\'s working tree, the prompt as its last argument and in `AGENTQ_PROMPT`. Lines it prints become events; a final Claude-Code-style `{"type":"result",...}` line gives the summary, turns and cost.' },
  { env: 'AGENTQ_CLAUDE_BIN', schema: z.string().min(1).default('claude'), shown: '`claude`', doc: 'Path of the Claude Code CLI (looked up on `PATH` when not absolute). With `docker` or `modal`, a path in the sandbox image.' },
  { env: 'AGENTQ_CLAUDE_MODEL', schema: z.string().regex(/^[A-Za-z0-9._:/-]{1,100}$/).optional(), shown: 'CLI default', doc: 'Model passed to Claude Code with `--model` when a task names none.' },
  { env: 'AGENTQ_CLAUDE_PERMISSION_MODE', schema: z.enum(['bypassPermissions', 'acceptEdits', 'default', 'plan']).default('bypassPermissions'), shown: '`bypassPermissions`', doc: 'Claude Code `--permission-mode`.' },
  { env: 'AGENTQ_MAX_TURNS', schema: int(1, 1000).default(50), shown: '`50`', doc: 'Default maximum agent turns per task.' },
  { env: 'ANTHROPIC_API_KEY', schema: z.string().min(1).optional(), shown: '—', secret: true, doc: 'Anthropic API key of the [model gateway](gateway.md), on the ingress only: sandboxes never see it, they call the gateway with a token of their task. Set (or `ANTHROPIC_AUTH_TOKEN`), the default harness is `claude-code`.' },
  { env: 'ANTHROPIC_AUTH_TOKEN', schema: z.string().min(1).optional(), shown: '—', secret: true, doc: 'Bearer token the model gateway sends upstream instead of `ANTHROPIC_API_KEY` (a company LLM proxy).' },
  { env: 'ANTHROPIC_BASE_URL', schema: z.url({ protocol: /^https?$/ }).optional(), shown: '`https://api.anthropic.com`', doc: 'Where the model gateway sends Anthropic calls (the Messages API), e.g. a company LLM proxy.' },
  { env: 'OPENAI_API_KEY', schema: z.string().min(1).optional(), shown: '—', secret: true, doc: 'OpenAI API key of the model gateway, on the ingress only (Codex calls the gateway with a token of its task).' },
  { env: 'OPENAI_BASE_URL', schema: z.url({ protocol: /^https?$/ }).optional(), shown: '`https://api.openai.com/v1`', doc: 'Where the model gateway sends OpenAI calls (the Responses API).' },
  { env: 'AGENTQ_GATEWAY_URL', schema: z.url({ protocol: /^https?$/ }).optional(), shown: '`AGENTQ_PUBLIC_URL`', doc: 'Base URL sandboxes reach the ingress\'s model gateway at (`<url>/llm/anthropic`, `<url>/llm/openai`), when it differs from `AGENTQ_PUBLIC_URL` (a private address of the cluster, say).' },
  { env: 'AGENTQ_MODEL_PRICES', schema: z.string().min(1).optional(), shown: 'built-in table', doc: 'JSON or YAML file of model prices (USD per million tokens) that replace or add to the built-in table: `{"<model>": {"input": 3, "output": 15, "cacheRead": 0.3, "cacheWrite": 3.75}}`. See [Prices](gateway.md#prices).' },
  { env: 'AGENTQ_MODEL_DEFAULT_PRICE', schema: z.string().regex(/^\d+(\.\d+)?,\d+(\.\d+)?$/, 'must be "<input>,<output>" in USD per million tokens').default('15,75'), shown: '`15,75`', doc: 'Price of a model missing from the table, `<input>,<output>` USD per million tokens (logged when used; never free).' },
  { env: 'AGENTQ_GATEWAY_TASK_RPM', schema: int(1, 100_000).default(120), shown: '`120`', doc: 'Model calls one task may make through the gateway per minute; more get the provider\'s own 429 with `retry-after`.' },
  { env: 'AGENTQ_GATEWAY_TEAM_RPM', schema: int(1, 1_000_000).default(600), shown: '`600`', doc: 'Model calls one team\'s tasks may make through the gateway per minute, together.' },
  { env: 'AGENTQ_SANDBOX_ENV', schema: list.optional(), shown: 'none', doc: 'Names of variables of the dispatcher\'s environment passed into sandboxes, as secrets: their values are redacted everywhere. Model keys (`ANTHROPIC_API_KEY`, `ANTHROPIC_AUTH_TOKEN`, `CLAUDE_CODE_OAUTH_TOKEN`, `OPENAI_API_KEY`, `CODEX_API_KEY`) are refused: the [model gateway](gateway.md) holds them.' },
  { env: 'AGENTQ_TASK_TIMEOUT_SEC', schema: int(1, 7 * 24 * 3600).default(3600), shown: '`3600`', doc: 'Default wall-clock limit of a task; past it the sandbox is stopped and the task ends `timed_out`.' },
  { env: 'AGENTQ_TEAM_DAILY_USD', schema: list.optional(), shown: 'no cap', doc: 'Comma-separated daily spending caps, each `team:usd` (e.g. `default:50,platform:200`). The model gateway counts every model call in its team\'s day (UTC) as it is made, running tasks included: a call over the cap is refused and its task stopped (`DISPATCH_BUDGET_EXCEEDED`), and a team at its cap gets no new tasks until UTC midnight (429 `INGRESS_BUDGET_EXHAUSTED`). See [Budgets](operations.md#budgets). Teams not listed have no cap.' },
  { env: 'AGENTQ_MAX_RUNNING', schema: int(1, 100_000).optional(), shown: 'no cap', doc: 'Most sandboxes alive at once across all dispatchers. A task that finds the pool full waits (it is never refused) and starts when a sandbox ends. Give every dispatcher the same limits. See [Concurrency limits](operations.md#concurrency-limits).' },
  { env: 'AGENTQ_TEAM_MAX_RUNNING', schema: list.optional(), shown: 'no cap', doc: 'Comma-separated caps on the sandboxes alive at once per team, each `team:n` (e.g. `default:4,platform:10`); a `*:n` entry applies to every team not listed. Teams not listed (and without `*`) have no cap.' },
  { env: 'AGENTQ_REPO_MAX_RUNNING', schema: int(1, 100_000).optional(), shown: 'no cap', doc: 'Most sandboxes alive at once on any one repository.' },
  { env: 'AGENTQ_SLOT_LEASE_MS', schema: int(1000, 3_600_000).default(30_000), shown: '`30000`', doc: 'Lease of a concurrency slot: the dispatcher running a task renews it; a slot whose lease ran out (its dispatcher died) is freed once the sandbox provider confirms the task\'s sandbox is gone, never while it runs. Also how long a slot set aside for a waiting task is kept for it.' },
  { env: 'AGENTQ_SLOT_RECHECK_MS', schema: int(100, 3_600_000).default(15_000), shown: '`15000`', doc: 'A task waiting for a slot is started as soon as one is set aside for it; besides, it looks again at least this often (a backstop, and when it notes a new reason for waiting).' },
  { env: 'AGENTQ_DISPATCHER_CONCURRENCY', schema: int(1, 1000).default(2), shown: '`2`', doc: 'Tasks one dispatcher runs at once.' },
  { env: 'AGENTQ_DISPATCHER_LOCK_MS', schema: int(1000, 3_600_000).default(30_000), shown: '`30000`', doc: 'How long a dispatcher\'s hold on a running task lasts without renewal. A dispatcher that dies mid-task loses its tasks after this; another dispatcher (or the restarted one) then re-attaches to their sandboxes, between `AGENTQ_DISPATCHER_LOCK_MS` and `AGENTQ_DISPATCHER_LOCK_MS` + 2 × `AGENTQ_DISPATCHER_STALLED_INTERVAL_MS` after the crash (61 s measured with the defaults).' },
  { env: 'AGENTQ_DISPATCHER_STALLED_INTERVAL_MS', schema: int(500, 3_600_000).default(30_000), shown: '`30000`', doc: 'How often dispatchers look for tasks whose dispatcher stopped renewing its hold (see `AGENTQ_DISPATCHER_LOCK_MS`). The look runs at most once per interval for the whole queue, so give every dispatcher the same value.' },
  { env: 'AGENTQ_MAX_PROMPT_CHARS', schema: int(1, 30_000).default(20_000), shown: '`20000`', doc: 'Longest prompt accepted, in characters (at most 30000: the prompt reaches the agent as one command-line argument, which Linux limits to 128 KiB).' },
  { env: 'AGENTQ_BODY_LIMIT_BYTES', schema: int(1024, 10 * 1024 * 1024).default(256 * 1024), shown: '`262144`', doc: 'Largest request body accepted by the ingress.' },
  { env: 'AGENTQ_IDEMPOTENCY_TTL_SEC', schema: int(60, 30 * 24 * 3600).default(24 * 3600), shown: '`86400`', doc: 'How long an `Idempotency-Key` keeps returning the same task.' },
  { env: 'AGENTQ_SSE_MAX_STREAMS', schema: int(1, 1_000_000).default(10_000), shown: '`10000`', doc: 'Live event streams (`GET /v1/tasks/:id/events` over SSE) one ingress keeps open at once; one more is refused with `429 INGRESS_TOO_MANY_STREAMS`. Each open stream costs a socket (a file descriptor) and about 10 KB; keep it under the process\'s open-file limit (`ulimit -n`). See [Live streams](operations.md#live-streams).' },
  { env: 'AGENTQ_SSE_MAX_STREAMS_PER_ADDRESS', schema: int(1, 1_000_000).default(100), shown: '`100`', doc: 'Live event streams one client address may hold open (behind a proxy every client shares its address: raise it, or let the proxy cap). Enough for a person with many viewer tabs.' },
  { env: 'AGENTQ_SSE_MAX_STREAMS_PER_TEAM', schema: int(1, 1_000_000).default(1_000), shown: '`1000`', doc: 'Live event streams opened with the API tokens of one team, so that one team\'s tooling cannot take the whole of `AGENTQ_SSE_MAX_STREAMS`.' },
  { env: 'AGENTQ_SSE_MAX_STREAMS_PER_VIEWER_KEY', schema: int(1, 1_000_000).default(50), shown: '`50`', doc: 'Live event streams opened with the viewer link of one task (anyone holding the link can open them), so that a shared link cannot take the whole of `AGENTQ_SSE_MAX_STREAMS`.' },
  { env: 'AGENTQ_SSE_REDIS_CONNECTIONS', schema: int(1, 64).default(2), shown: '`2`', doc: 'Blocking Redis connections that follow the tasks being watched live; each one reads many tasks\' streams with one `XREAD`, and every client of a task shares one read. These (and the ingress\'s main connection) are all the connections live streams use, however many are open.' },
  { env: 'AGENTQ_SSE_CLIENT_BUFFER', schema: int(10, 1_000_000).default(2_000), shown: '`2000`', doc: 'Events the ingress holds for one live stream whose client reads more slowly than the task writes. A client further behind is disconnected (its `EventSource` reconnects with `Last-Event-ID` and replays from there) so that it holds up no one else.' },
  { env: 'AGENTQ_EVENTS_TTL_SEC', schema: int(60, 365 * 24 * 3600).default(7 * 24 * 3600), shown: '`604800`', doc: 'How long a finished task\'s event stream stays in Redis once archived; the viewer and API read the archive after that.' },
  { env: 'AGENTQ_ARCHIVE_URL', schema: archiveUrl.optional(), shown: '`file://<AGENTQ_DATA_DIR>/transcripts`', doc: 'Where transcripts are kept: `file://<dir>` (an absolute directory, or `file://./dir` relative to the working directory) or `s3://<bucket>/<prefix>` for any S3-compatible store (AWS S3, MinIO, Cloudflare R2, Google Cloud Storage through its XML API). The log relays write it, the ingress reads it once a stream left Redis; with S3 they share no volume. See [Transcript archive](operations.md#transcript-archive).' },
  { env: 'AWS_REGION', schema: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a region name such as us-east-1 (auto for R2)').default('us-east-1'), shown: '`us-east-1`', doc: 'Region of the S3 bucket (`auto` for Cloudflare R2). With an `s3://` archive only, as the rest of the `AWS_*` settings.' },
  { env: 'AWS_ENDPOINT_URL_S3', schema: z.url({ protocol: /^https?$/ }).optional(), shown: 'AWS S3', doc: 'S3 API endpoint of a store other than AWS S3, e.g. `http://minio:9000`, `https://<account>.r2.cloudflarestorage.com`, `https://storage.googleapis.com`.' },
  { env: 'AGENTQ_S3_FORCE_PATH_STYLE', schema: bool.default(false), shown: '`false`', doc: 'Address buckets as `<endpoint>/<bucket>` instead of `<bucket>.<endpoint>` (MinIO and most self-hosted stores need `true`).' },
  { env: 'AWS_ACCESS_KEY_ID', schema: z.string().min(1).optional(), shown: 'the AWS SDK\'s credential chain', doc: 'Access key of the S3 store, with `AWS_SECRET_ACCESS_KEY`. When both are unset the AWS SDK looks further (web identity / IRSA, ECS and EC2 roles, `~/.aws`).' },
  { env: 'AWS_SECRET_ACCESS_KEY', schema: z.string().min(1).optional(), shown: '—', secret: true, doc: 'Secret key of the S3 store, with `AWS_ACCESS_KEY_ID`.' },
  { env: 'AWS_SESSION_TOKEN', schema: z.string().min(1).optional(), shown: '—', secret: true, doc: 'Session token of temporary S3 credentials, with the two keys.' },
  { env: 'AGENTQ_GIT_AUTHOR_NAME', schema: z.string().min(1).default('agentq'), shown: '`agentq`', doc: 'Author name of agent commits.' },
  { env: 'AGENTQ_GIT_AUTHOR_EMAIL', schema: z.string().min(3).default('agentq@localhost'), shown: '`agentq@localhost`', doc: 'Author email of agent commits.' },
  { env: 'AGENTQ_RELAY_CONSUMER', schema: z.string().regex(/^[A-Za-z0-9_.-]{1,100}$/).default(hostname().replace(/[^A-Za-z0-9_.-]/g, '-') || 'relay'), shown: 'host name', doc: 'Consumer name of this log relay in the Redis consumer groups (unique per replica).' },
  { env: 'AGENTQ_RELAY_CLAIM_IDLE_MS', schema: int(1000, 3_600_000).default(30_000), shown: '`30000`', doc: 'A task whose relay has been silent this long is taken over by another relay.' },
  { env: 'AGENTQ_SHUTDOWN_TIMEOUT_MS', schema: int(1000, 600_000).default(20_000), shown: '`20000`', doc: 'Deadline for a graceful shutdown on SIGTERM.' },
  { env: 'AGENTQ_LOG_LEVEL', schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'), shown: '`info`', doc: 'Log level of the services (JSON logs on stdout).' },
  { env: 'AGENTQ_LOG_PRETTY', schema: bool.default(false), shown: '`false`', doc: 'Human-readable logs instead of JSON (`npm start` turns it on in a terminal).' },
  { env: 'SLACK_BOT_TOKEN', schema: z.string().regex(/^xoxb-/, 'must be a bot token (xoxb-…)').optional(), shown: '—', secret: true, doc: 'Bot token of a Slack app installed in one workspace. With `SLACK_SIGNING_SECRET`, turns Slack on.' },
  { env: 'SLACK_SIGNING_SECRET', schema: z.string().min(8).optional(), shown: '—', secret: true, doc: 'Signing secret of the Slack app; every request to `/slack/events` must carry a valid signature.' },
  { env: 'SLACK_CLIENT_ID', schema: z.string().min(1).optional(), shown: '—', doc: 'For several workspaces: the Slack app\'s client id. With `SLACK_CLIENT_SECRET` and `SLACK_STATE_SECRET`, turns on the install flow at `/slack/install`.' },
  { env: 'SLACK_CLIENT_SECRET', schema: z.string().min(8).optional(), shown: '—', secret: true, doc: 'The Slack app\'s client secret (install flow). Also the key that encrypts installations stored in Redis.' },
  { env: 'SLACK_STATE_SECRET', schema: z.string().min(16).optional(), shown: '—', secret: true, doc: 'Signs the install flow\'s `state` parameter.' },
  { env: 'SLACK_API_URL', schema: z.url({ protocol: /^https?$/ }).default('https://slack.com/api/'), shown: '`https://slack.com/api/`', doc: 'Base URL of the Slack Web API (a proxy, or a fake in tests).' },
  { env: 'AGENTQ_SLACK_COMMAND', schema: z.string().regex(/^\/[a-z0-9_-]{1,31}$/).default('/agent'), shown: '`/agent`', doc: 'The slash command, as configured in the Slack app.' },
  { env: 'AGENTQ_SLACK_POLICY_FILE', schema: z.string().min(1).optional(), shown: 'none: every channel may target every repository', doc: 'YAML or JSON file saying which channels and users may target which repositories, and who the admins are (see [Slack policy](slack.md#slack-policy)).' },
  { env: 'AGENTQ_SLACK_STATUS_INTERVAL_MS', schema: int(500, 60_000).default(3000), shown: '`3000`', doc: 'Least time between two updates of a task\'s Slack status message.' },
  { env: 'GITHUB_APP_ID', schema: int(1, Number.MAX_SAFE_INTEGER).optional(), shown: '—', doc: 'Id of the GitHub App agentq acts as. With its private key, tasks on the repositories the App is installed on go through GitHub (clone, branch, pull request).' },
  { env: 'GITHUB_APP_PRIVATE_KEY', schema: z.string().min(1).optional(), shown: '—', secret: true, doc: 'The App\'s private key (PEM; `\\n` escapes are accepted). Or `GITHUB_APP_PRIVATE_KEY_PATH`.' },
  { env: 'GITHUB_APP_PRIVATE_KEY_PATH', schema: z.string().min(1).optional(), shown: '—', doc: 'File holding the App\'s private key (PEM).' },
  { env: 'GITHUB_WEBHOOK_SECRET', schema: z.string().min(8).optional(), shown: '—', secret: true, doc: 'Secret of the App\'s webhook; deliveries to `/github/webhooks` must be signed with it.' },
  { env: 'GITHUB_API_URL', schema: z.url({ protocol: /^https?$/ }).default('https://api.github.com'), shown: '`https://api.github.com`', doc: 'GitHub REST API base URL (GitHub Enterprise Server: `https://<host>/api/v3`).' },
  { env: 'GITHUB_GIT_URL', schema: z.string().regex(/^(https?|file):\/\/\S+$/, 'must be an http(s):// or file:// URL').default('https://github.com'), shown: '`https://github.com`', doc: 'Base of clone URLs: `<GITHUB_GIT_URL>/<owner>/<repo>.git`.' },
  { env: 'AGENTQ_GITHUB_REPOS', schema: list.optional(), shown: 'every repository the App is installed on', doc: 'Comma-separated repositories agentq may work on through GitHub, each `owner/name`, `owner/*` or `*`, optionally `:team` (the agentq team tasks from GitHub count against; default `default`). First match wins.' },
  { env: 'AGENTQ_GITHUB_DRAFT_PRS', schema: bool.default(true), shown: '`true`', doc: 'Open pull requests as drafts.' },
  { env: 'AGENTQ_GITHUB_PR_LABELS', schema: list.default(['agentq']), shown: '`agentq`', doc: 'Comma-separated labels put on the pull requests agentq opens (empty for none).' },
  { env: 'AGENTQ_GITHUB_TRIGGER_LABEL', schema: z.string().min(1).max(50).default('agentq'), shown: '`agentq`', doc: 'Labeling an issue with this label starts a task with the issue as the prompt.' },
  { env: 'AGENTQ_GITHUB_AUTOFIX_CI', schema: bool.default(false), shown: '`false`', doc: 'When the checks of the head commit of a pull request agentq opened have all concluded and some failed, start a follow-up of its task on the same branch with the failing checks and their logs in the prompt. A repository turns it on or off for itself with `autofix.ci` in `.agentq.yml` (read from its default branch). See [Fixing CI failures and change requests](github.md#fixing-ci-failures-and-change-requests).' },
  { env: 'AGENTQ_GITHUB_AUTOFIX_REVIEWS', schema: bool.default(false), shown: '`false`', doc: 'When someone with write access submits a review that requests changes on a pull request agentq opened, start a follow-up with the review and its inline comments in the prompt; the agent\'s answers are posted as replies. Per repository: `autofix.reviews` in `.agentq.yml`.' },
  { env: 'AGENTQ_GITHUB_MAX_FIX_ATTEMPTS', schema: int(1, 20).default(3), shown: '`3`', doc: 'Automatic follow-ups (CI failures and change requests together) per pull request without a human push or comment in between; at the cap agentq comments once and stops. Per repository: `autofix.maxAttempts` in `.agentq.yml` (at most this value).' },
  { env: 'AGENTQ_GITHUB_NO_AUTOFIX_LABEL', schema: z.string().min(1).max(50).default('agentq:hands-off'), shown: '`agentq:hands-off`', doc: 'A pull request with this label gets no automatic follow-ups; adding it (or closing the pull request) cancels those queued or running.' },
  { env: 'AGENTQ_GITHUB_CI_LOG_BYTES', schema: int(1000, 200_000).default(16_000), shown: '`16000`', doc: 'Most bytes of failing check output and job logs put in the prompt of a CI follow-up (failing steps first, the end of each log kept).' },
  { env: 'AGENTQ_DEMO_DELAY_MS', schema: int(0, 60_000).default(300), shown: '`300`', doc: 'Pause between the steps of the bundled `demo` agent, so progress can be watched.' },
] as const satisfies readonly Setting[];

type Settings = typeof SETTINGS;
/** Every setting's value once parsed (undefined when unset and without default). */
export type EnvValues = { [S in Settings[number] as S['env']]: z.output<S['schema']> };
/** Variables the table marks `secret`. */
export type SecretEnv = Extract<Settings[number], { secret: true }>['env'];
