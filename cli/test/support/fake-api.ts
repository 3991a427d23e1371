import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentEvent, AgentEventInput, TaskRecord } from '@agentq/shared';

export type FakeTask = TaskRecord & { viewerUrl?: string; spentUsd?: number };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** What the next submitted task does: its events (seq assigned in order) and final record fields. */
export interface TaskScript {
  events: AgentEventInput[];
  final?: Partial<FakeTask>;
  /** The first event stream connection is cut right after the event with this seq. */
  dropAfterSeq?: number;
}

/**
 * A fake of the agentq task API on 127.0.0.1, speaking real HTTP: the contract the CLI talks to
 * (`/v1/tasks`, events as SSE and JSONL, cancel, `/v1/repos`, Bearer auth, `{error}` bodies).
 */
export class FakeApi {
  readonly token = `aq_${randomBytes(12).toString('hex')}`;
  readonly requests: RecordedRequest[] = [];
  readonly tasks = new Map<string, FakeTask>();
  readonly events = new Map<string, AgentEvent[]>();
  /** `Last-Event-ID` of each events request, in order. */
  readonly lastEventIds: (string | undefined)[] = [];
  /** Scripts for the next submitted tasks, used in order. */
  readonly scripts: TaskScript[] = [];
  private readonly drops = new Map<string, number>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        send(res, 500, { error: { code: 'FAKE_FAILED', message: String(err) } });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Adds a task with the given events (seq 1..n) directly, as if submitted earlier. */
  addTask(fields: Partial<FakeTask>, events: AgentEventInput[] = []): FakeTask {
    const id = fields.id ?? newId();
    const now = new Date().toISOString();
    const task: FakeTask = {
      id,
      state: 'queued',
      repo: 'demo/hello',
      prompt: 'do something',
      team: 'default',
      source: 'api',
      createdAt: now,
      updatedAt: now,
      ...fields,
    };
    this.tasks.set(id, task);
    this.events.set(id, numbered(id, events, Date.parse(task.createdAt)));
    return task;
  }

  requestsTo(method: string, pathPrefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const raw = await readBody(req);
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    this.requests.push({ method: req.method ?? '', path: url.pathname + url.search, headers: req.headers, body });
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      return send(res, 401, { error: { code: 'INGRESS_UNAUTHORIZED', message: 'missing or invalid API token' } });
    }
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'v1') return send(res, 404, { error: { code: 'NOT_FOUND', message: 'not found' } });

    if (req.method === 'POST' && url.pathname === '/v1/tasks') return this.submit(body, res);
    if (req.method === 'GET' && url.pathname === '/v1/tasks') return this.list(url, res);
    if (req.method === 'POST' && url.pathname === '/v1/repos') {
      const { repo, source } = (body ?? {}) as { repo?: string; source?: string };
      if (repo === 'demo/hello') return send(res, 409, { error: { code: 'FORGE_REPO_EXISTS', message: 'repository demo/hello already exists' } });
      return send(res, 201, { repo, source });
    }
    if (parts[1] === 'tasks' && parts[2]) {
      const task = this.tasks.get(parts[2]);
      if (!task) return send(res, 404, { error: { code: 'TASK_NOT_FOUND', message: `task ${parts[2]} not found` } });
      if (req.method === 'GET' && parts.length === 3) return send(res, 200, task);
      if (req.method === 'GET' && parts[3] === 'events') return this.stream(task, url, req, res);
      if (req.method === 'POST' && parts[3] === 'cancel') {
        if (['succeeded', 'failed', 'canceled', 'timed_out'].includes(task.state)) {
          return send(res, 409, { error: { code: 'INGRESS_TASK_FINAL', message: `task is already ${task.state}` } });
        }
        if (task.state === 'queued') task.state = 'canceled';
        else task.cancelRequested = true;
        return send(res, 202, { id: task.id, state: task.state });
      }
    }
    send(res, 404, { error: { code: 'NOT_FOUND', message: 'not found' } });
  }

  private submit(body: unknown, res: ServerResponse): void {
    const request = (body ?? {}) as { repo?: string; prompt?: string };
    if (!request.repo || !/^[^/]+\/[^/]+$/.test(request.repo)) {
      return send(res, 400, { error: { code: 'INGRESS_BAD_REQUEST', message: 'repo: must look like "owner/name"' } });
    }
    if (request.repo === 'nobody/nothing') {
      return send(res, 404, { error: { code: 'INGRESS_UNKNOWN_REPO', message: 'repository nobody/nothing is not known' } });
    }
    const script = this.scripts.shift() ?? { events: [] };
    const id = newId();
    const viewerUrl = `${this.url}/tasks/${id}?key=k-${id.slice(-6)}`;
    const task = this.addTask({ id, repo: request.repo, prompt: request.prompt ?? '', viewerUrl }, script.events);
    const events = this.events.get(id) ?? [];
    const lastState = [...events].reverse().find((e) => e.kind === 'task.state');
    Object.assign(task, script.final ?? {}, lastState && lastState.kind === 'task.state' ? { state: lastState.state } : {});
    if (script.dropAfterSeq !== undefined) this.drops.set(id, script.dropAfterSeq);
    send(res, 202, { id, state: 'queued', statusUrl: `${this.url}/v1/tasks/${id}`, viewerUrl });
  }

  private list(url: URL, res: ServerResponse): void {
    const state = url.searchParams.get('state');
    const repo = url.searchParams.get('repo');
    const limit = Number(url.searchParams.get('limit') ?? 50);
    const tasks = [...this.tasks.values()]
      .filter((t) => (!state || t.state === state) && (!repo || t.repo === repo))
      .reverse()
      .slice(0, limit);
    send(res, 200, { tasks });
  }

  private stream(task: FakeTask, url: URL, req: IncomingMessage, res: ServerResponse): void {
    const events = this.events.get(task.id) ?? [];
    if (url.searchParams.get('format') === 'jsonl') {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.end(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
      return;
    }
    const lastId = req.headers['last-event-id'];
    const last = typeof lastId === 'string' ? lastId : undefined;
    this.lastEventIds.push(last);
    const after = Number(last ?? 0);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(': hello\n\n');
    const drop = this.drops.get(task.id);
    for (const event of events) {
      if (event.seq <= after) continue;
      res.write(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
      if (drop !== undefined && event.seq === drop) {
        this.drops.delete(task.id);
        // Cut the connection mid-stream, as a proxy or network failure would.
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
    }
    const final = events.some((e) => e.kind === 'task.state' && ['succeeded', 'failed', 'canceled', 'timed_out'].includes(e.state));
    if (final) res.end();
  }
}

function numbered(taskId: string, events: AgentEventInput[], start: number): AgentEvent[] {
  return events.map((e, i) => ({ v: 1, taskId, seq: i + 1, ts: new Date(start + i * 1500).toISOString(), ...e }) as AgentEvent);
}

function newId(): string {
  const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
  return Array.from(randomBytes(26), (b) => alphabet[b % 32]).join('');
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (data += chunk));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
