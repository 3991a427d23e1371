import type { AgentEvent, TaskPriority, TaskRecord, TaskState } from '@agentq/shared';
import { CliError } from './cli-error.js';
import type { Connection } from './connection.js';

/** Body of `POST /v1/tasks`. */
export interface SubmitRequest {
  repo: string;
  prompt: string;
  baseRef?: string;
  harness?: string;
  model?: string;
  limits?: { maxTurns?: number; timeoutSec?: number; maxCostUsd?: number };
  metadata?: Record<string, string>;
  priority?: TaskPriority;
}

export interface SubmitResponse {
  id: string;
  state: TaskState;
  statusUrl?: string;
  viewerUrl?: string;
}

/** A task as returned by the API (the record, plus links when the server adds them). */
/** A task as the API shows it; `spentUsd` is what the model gateway metered so far. */
export type TaskView = TaskRecord & { viewerUrl?: string; statusUrl?: string; spentUsd?: number };

const REQUEST_TIMEOUT_MS = 30_000;

/** The agentq HTTP API, as the CLI uses it. Every failure becomes a `CliError`. */
export class ApiClient {
  constructor(
    private readonly connection: Connection,
    private readonly signal?: AbortSignal,
  ) {}

  get url(): string {
    return this.connection.url;
  }

  async submit(request: SubmitRequest, idempotencyKey?: string): Promise<SubmitResponse> {
    const headers: Record<string, string> = idempotencyKey ? { 'idempotency-key': idempotencyKey } : {};
    const body = await this.json<SubmitResponse & { status?: TaskState }>('POST', '/v1/tasks', { body: request, headers });
    return { ...body, state: body.state ?? body.status };
  }

  getTask(id: string): Promise<TaskView> {
    return this.json<TaskView>('GET', `/v1/tasks/${encodeURIComponent(id)}`);
  }

  async listTasks(filter: { state?: string; repo?: string; limit?: number }): Promise<TaskView[]> {
    const query = new URLSearchParams();
    if (filter.state) query.set('state', filter.state);
    if (filter.repo) query.set('repo', filter.repo);
    if (filter.limit !== undefined) query.set('limit', String(filter.limit));
    const qs = query.toString();
    const body = await this.json<{ tasks?: TaskView[] }>('GET', `/v1/tasks${qs ? `?${qs}` : ''}`);
    return body.tasks ?? [];
  }

  cancel(id: string): Promise<Partial<TaskView>> {
    return this.json<Partial<TaskView>>('POST', `/v1/tasks/${encodeURIComponent(id)}/cancel`, { body: {} });
  }

  addRepo(repo: string, source: string): Promise<Record<string, unknown>> {
    return this.json<Record<string, unknown>>('POST', '/v1/repos', { body: { repo, source } });
  }

  /** The transcript so far, as events. */
  async transcript(id: string): Promise<AgentEvent[]> {
    const res = await this.fetch('GET', `/v1/tasks/${encodeURIComponent(id)}/events?format=jsonl`, {});
    const text = await res.text();
    const events: AgentEvent[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        events.push(JSON.parse(line) as AgentEvent);
      } catch {
        throw new CliError('CLI_BAD_RESPONSE', `the server sent a transcript line that is not JSON: ${line.slice(0, 80)}`);
      }
    }
    return events;
  }

  /**
   * Opens the SSE stream of a task's events after `lastSeq`. Answers with the response so the
   * caller can read the body; non-2xx answers become `CliError`s.
   */
  openEvents(id: string, lastSeq: number, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastSeq > 0) headers['last-event-id'] = String(lastSeq);
    return this.fetch('GET', `/v1/tasks/${encodeURIComponent(id)}/events`, { headers, signal, noTimeout: true });
  }

  private async json<T>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<T> {
    const res = await this.fetch(method, path, options);
    const text = await res.text();
    if (text.trim() === '') return {} as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError('CLI_BAD_RESPONSE', `${method} ${path} answered ${res.status} with a body that is not JSON`);
    }
  }

  private async fetch(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal; noTimeout?: boolean },
  ): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.connection.token) headers.authorization = `Bearer ${this.connection.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const signals = [options.signal, this.signal, options.noTimeout ? undefined : AbortSignal.timeout(REQUEST_TIMEOUT_MS)].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    let res: Response;
    try {
      res = await fetch(`${this.connection.url}${path}`, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.any(signals),
      });
    } catch (err) {
      throw this.networkError(err);
    }
    if (!res.ok) throw await this.apiError(res);
    return res;
  }

  /** Turns a failed fetch into a message that says what to do. */
  networkError(err: unknown): unknown {
    if (err instanceof CliError) return err;
    const url = this.connection.url;
    if (err instanceof Error && err.name === 'TimeoutError') {
      return new CliError('CLI_TIMEOUT', `agentq at ${url} did not answer within ${REQUEST_TIMEOUT_MS / 1000}s`, { cause: err });
    }
    if (isAbort(err)) return err;
    const code = errnoCode(err);
    if (code === 'ECONNREFUSED') {
      return new CliError('CLI_CONNECTION_REFUSED', `cannot connect to agentq at ${url} (connection refused)`, {
        hint: 'is agentq running? start it with npm start (or point --url / AGENTQ_URL at it)',
        cause: err,
      });
    }
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
      return new CliError('CLI_UNREACHABLE', `cannot resolve the host of ${url}`, { hint: 'check --url / AGENTQ_URL', cause: err });
    }
    const detail = code ?? (err instanceof Error ? err.message : String(err));
    return new CliError('CLI_UNREACHABLE', `cannot reach agentq at ${url} (${detail})`, { cause: err });
  }

  private async apiError(res: Response): Promise<CliError> {
    const text = await res.text().catch(() => '');
    let code = `HTTP_${res.status}`;
    let message = res.statusText || 'request failed';
    try {
      const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      if (typeof body.error?.code === 'string') code = body.error.code;
      if (typeof body.error?.message === 'string') message = body.error.message;
    } catch {
      if (text.trim()) message = text.trim().slice(0, 200);
    }
    let hint: string | undefined;
    if (res.status === 401) {
      hint =
        this.connection.tokenSource === 'none'
          ? `no API token found: pass --token, set AGENTQ_TOKEN, or run where npm start wrote ${this.connection.tokenFile}`
          : `the API token (from ${describeSource(this.connection)}) was not accepted`;
    } else if (res.status === 503) {
      const retry = res.headers.get('retry-after');
      hint = `agentq is not ready${retry ? `; retry in ${retry}s` : ''}`;
    }
    return new CliError(code, message, { status: res.status, ...(hint ? { hint } : {}) });
  }
}

function describeSource(c: Connection): string {
  if (c.tokenSource === 'flag') return '--token';
  if (c.tokenSource === 'env') return 'AGENTQ_TOKEN';
  return c.tokenFile;
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** The errno code of a failed fetch (undici nests it in `cause`, sometimes in an AggregateError). */
function errnoCode(err: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const e = queue.shift();
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    queue.push((e as { cause?: unknown }).cause);
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return undefined;
}
