import { spawn, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { makeTempDir } from '@agentq/shared/testing';

export const CHROMIUM = '/usr/bin/chromium';

/** Headless, quiet Chromium with its own profile directory. */
export function chromiumFlags(profileDir: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-domain-reliability',
    '--no-first-run',
    '--no-default-browser-check',
    `--user-data-dir=${profileDir}`,
  ];
}

interface Pending {
  resolve(value: Record<string, unknown>): void;
  reject(err: Error): void;
}

/** A page open in the browser: expressions are evaluated in it while it runs. */
export interface BrowserPage {
  /** The value of a JavaScript expression in the page (JSON values only). */
  evaluate<T>(expression: string): Promise<T>;
}

/**
 * Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: fd 3
 * in, fd 4 out, JSON messages ended by NUL), so a test can read a live page at any moment, while
 * its event stream is still open.
 */
export class PipeBrowser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buffer = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly input: Writable,
    output: Readable,
    private readonly profile: string,
  ) {
    output.setEncoding('utf8');
    output.on('data', (chunk: string) => this.receive(chunk));
    child.once('exit', () => {
      for (const call of this.pending.values()) call.reject(new Error('chromium exited'));
      this.pending.clear();
    });
  }

  static async launch(): Promise<PipeBrowser> {
    const profile = await makeTempDir('agentq-chromium-');
    const child = spawn(
      CHROMIUM,
      [...chromiumFlags(profile.path), '--remote-debugging-pipe', 'about:blank'],
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
    );
    const [, , , input, output] = child.stdio as [unknown, unknown, unknown, Writable, Readable];
    return new PipeBrowser(child, input, output, profile.path);
  }

  /** Opens `url` in a new tab. */
  async open(url: string): Promise<BrowserPage> {
    const { targetId } = (await this.send('Target.createTarget', { url })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    return {
      evaluate: async <T>(expression: string): Promise<T> => {
        const answer = (await this.send('Runtime.evaluate', { expression, returnByValue: true }, sessionId)) as {
          result: { value?: unknown };
          exceptionDetails?: { text: string };
        };
        if (answer.exceptionDetails) throw new Error(`in the page: ${answer.exceptionDetails.text}`);
        return answer.result.value as T;
      },
    };
  }

  /** Closes the browser (and its helper processes) and removes its profile. */
  async close(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      await Promise.race([this.send('Browser.close', {}).catch(() => undefined), exited]);
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    // helper processes may still be writing to the profile for a moment
    await rm(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }

  private send(method: string, params: Record<string, unknown>, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.input.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\0')) >= 0) {
      const message = JSON.parse(this.buffer.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
      this.buffer = this.buffer.slice(end + 1);
      const call = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!call || message.id === undefined) continue; // an event
      this.pending.delete(message.id);
      if (message.error) call.reject(new Error(message.error.message));
      else call.resolve(message.result ?? {});
    }
  }
}
