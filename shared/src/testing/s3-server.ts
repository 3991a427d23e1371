import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestS3Options {
  /** Data directory; a temp dir of its own when unset. */
  dir?: string;
  /** Bucket created at start (default `transcripts`). */
  bucket?: string;
}

export interface TestS3 {
  /** `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL_S3` is set to. */
  endpoint: string;
  port: number;
  bucket: string;
  dir: string;
  /** Environment that points agentq at this server as it would at MinIO (endpoint, path style, static keys). */
  env(prefix?: string): Record<string, string>;
  /** Stops answering: the port is closed and open connections are cut. What was stored stays. */
  stop(): Promise<void>;
  /** Answers again, on the same port and data. */
  restart(): Promise<void>;
  /** Ends the server process and removes its data (when the directory was its own). */
  remove(): Promise<void>;
}

/** The credentials s3rver accepts. */
export const TEST_S3_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const MAIN = join(import.meta.dirname, 's3-server-main.ts');

type Reply = { ready?: true; listening?: number; closed?: true };

/** The server process: it stays up across `stop`/`restart`, so nothing it stored is cut short. */
function spawnServer(dir: string, bucket: string): { child: ChildProcess; next(what: keyof Reply): Promise<Reply> } {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', MAIN, dir, bucket], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const next = (what: keyof Reply) =>
    new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`s3rver gave no ${what} within 20 s: ${output}`)), 20_000);
      const onMessage = (message: Reply) => {
        if (message[what] !== undefined) done(undefined, message);
      };
      const onExit = (code: number | null) => done(new Error(`s3rver exited (${code}): ${output}`));
      const done = (err?: Error, message?: Reply) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve(message as Reply);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  return { child, next };
}

/**
 * An S3-compatible server (s3rver, in a process of its own) on 127.0.0.1 with its data in a temp
 * dir, and one bucket. The product talks to it through the AWS SDK as it would to MinIO.
 */
export async function startTestS3(options: TestS3Options = {}): Promise<TestS3> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'agentq-s3-')));
  const bucket = options.bucket ?? 'transcripts';
  const server = spawnServer(dir, bucket);
  await server.next('ready');
  const listen = async (port: number) => {
    const reply = server.next('listening');
    server.child.send({ listen: port });
    return (await reply).listening as number;
  };
  const port = await listen(0);
  let answering = true;
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!answering) return;
    answering = false;
    const reply = server.next('closed');
    server.child.send({ close: true });
    await reply;
  };
  return {
    endpoint,
    port,
    bucket,
    dir,
    env: (prefix = '') => ({
      AGENTQ_ARCHIVE_URL: `s3://${bucket}${prefix ? `/${prefix}` : ''}`,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: TEST_S3_KEYS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: TEST_S3_KEYS.secretAccessKey,
      AGENTQ_S3_FORCE_PATH_STYLE: 'true',
    }),
    stop,
    restart: async () => {
      if (answering) return;
      await listen(port);
      answering = true;
    },
    remove: async () => {
      const { child } = server;
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGKILL');
        await exited;
      }
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
