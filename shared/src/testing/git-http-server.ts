import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from './loopback-server.js';

export interface GitHttpServerOptions {
  /** Holds the bare repositories as `<root>/<owner>/<name>.git`. */
  root: string;
  /** Decides each request from its HTTP Basic credentials and the `owner/name` it is for. */
  authorize: (username: string, password: string, repo: string) => boolean;
}

const REPO_PATH = /^\/([A-Za-z0-9][A-Za-z0-9._-]*)\/([A-Za-z0-9._-]+?)\.git(\/.*)?$/;

/**
 * Real git over HTTP on 127.0.0.1: `git http-backend` run as a CGI for bare repositories under
 * `root/<owner>/<name>.git`, behind HTTP Basic auth (401 with a challenge when credentials are
 * missing, so git asks its credential helper). Push works: receive-pack is on for authorized users.
 */
export class GitHttpServer {
  /** Basic-auth passwords received, in order. */
  readonly seenPasswords: string[] = [];
  url = '';
  private server: Server | undefined;

  constructor(private readonly options: GitHttpServerOptions) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.url = await listenOnLoopback(this.server);
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    const server = this.server;
    this.server = undefined;
    await closeServer(server);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const [rawPath = '/', query = ''] = (req.url ?? '/').split('?', 2);
    const path = decodeURIComponent(rawPath);
    const match = REPO_PATH.exec(path);
    if (!match || match[2] === '.' || match[2] === '..') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const repo = `${match[1]}/${match[2]}`;
    const credentials = basicCredentials(req.headers.authorization);
    if (!credentials) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="agentq-test"', 'content-type': 'text/plain' }).end('authentication required\n');
      return;
    }
    this.seenPasswords.push(credentials.password);
    if (!this.options.authorize(credentials.username, credentials.password, repo)) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="agentq-test"', 'content-type': 'text/plain' }).end('invalid credentials\n');
      return;
    }
    this.runBackend(req, res, path, query, credentials.username);
  }

  private runBackend(req: IncomingMessage, res: ServerResponse, path: string, query: string, user: string): void {
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    };
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_PROJECT_ROOT: this.options.root,
      GIT_HTTP_EXPORT_ALL: '1',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.receivepack',
      GIT_CONFIG_VALUE_0: 'true',
      REMOTE_USER: user,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      PATH_INFO: path,
      QUERY_STRING: query,
      REQUEST_METHOD: req.method ?? 'GET',
      CONTENT_TYPE: header('content-type') ?? '',
      ...(header('content-length') === undefined ? {} : { CONTENT_LENGTH: header('content-length') }),
      ...(header('content-encoding') === undefined ? {} : { HTTP_CONTENT_ENCODING: header('content-encoding') }),
      ...(header('git-protocol') === undefined ? {} : { HTTP_GIT_PROTOCOL: header('git-protocol') }),
    };
    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    req.pipe(child.stdin);
    child.stdin.on('error', () => undefined);
    child.stderr.resume();

    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const crlf = head.indexOf('\r\n\r\n');
      const lf = head.indexOf('\n\n');
      const end = crlf !== -1 && (lf === -1 || crlf < lf) ? { at: crlf, len: 4 } : lf !== -1 ? { at: lf, len: 2 } : undefined;
      if (!end) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end.at).toString('latin1').split(/\r?\n/)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200;
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      const rest = head.subarray(end.at + end.len);
      if (rest.length > 0) res.write(rest);
    });
    child.on('error', () => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
    child.on('close', () => {
      if (!headersDone) res.writeHead(502, { 'content-type': 'text/plain' }).end('git http-backend failed\n');
      else res.end();
    });
  }
}

function basicCredentials(header: string | undefined): { username: string; password: string } | undefined {
  const match = header === undefined ? null : /^Basic\s+(\S+)$/i.exec(header);
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
