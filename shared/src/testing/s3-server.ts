import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestS3Options {
  /** Data directory (kept across restarts); a temp dir of its own when unset. */
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
  /** Kills the server (SIGKILL): open connections are cut, new ones refused. The data stays. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  restart(): Promise<void>;
  /** Stops it and removes its data (when the directory was its own). */
  remove(): Promise<void>;
}

/** The credentials s3rver accepts. */
export const TEST_S3_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

const MAIN = join(import.meta.dirname, 's3-server-main.ts');

async function spawnServer(port: number, dir: string, bucket: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '--import', 'tsx', MAIN, String(port), dir, bucket], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start within 20 s: ${output}`)), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\d+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited (${code}) before listening: ${output}`));
    });
  });
  return { child, port: listening };
}

/**
 * An S3-compatible server (s3rver, a process of its own) on 127.0.0.1 with its data in a temp dir,
 * and one bucket. The product talks to it through the AWS SDK as it would to MinIO.
 */
export async function startTestS3(options: TestS3Options = {}): Promise<TestS3> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'agentq-s3-')));
  const bucket = options.bucket ?? 'transcripts';
  const first = await spawnServer(0, dir, bucket);
  let child: ChildProcess | undefined = first.child;
  const port = first.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGKILL');
    await exited;
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
      if (child) return;
      child = (await spawnServer(port, dir, bucket)).child;
    },
    remove: async () => {
      await stop();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
