import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

export interface CrowdOptions {
  /** `http://127.0.0.1:<port>` */
  base: string;
  paths: string[];
  count: number;
  headers: Record<string, string>;
  from?: string[];
}

/** SSE clients held open by a child process (`sse-crowd-main.ts`), so that their sockets do not count against this process's file limit. */
export class SseCrowd {
  private readonly lines: AsyncIterator<string>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  }

  static async open(options: CrowdOptions): Promise<{ crowd: SseCrowd; opened: number; refused: number }> {
    const url = new URL(options.base);
    const spec = { host: url.hostname, port: Number(url.port), paths: options.paths, count: options.count, headers: options.headers, from: options.from ?? ['127.0.0.1'] };
    const script = join(import.meta.dirname, 'sse-crowd-main.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', script, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const crowd = new SseCrowd(child);
    const first = (await crowd.next()) as { opened: number; refused: number };
    return { crowd, ...first };
  }

  /** How many streams have received `text` (waits until all have, or 60 s). */
  async expect(text: string): Promise<number> {
    this.child.stdin.write(`${JSON.stringify({ expect: text })}\n`);
    return ((await this.next()) as { seen: number }).seen;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.write(`${JSON.stringify({ close: true })}\n`);
    await exited;
  }

  private async next(): Promise<unknown> {
    const { value, done } = await this.lines.next();
    if (done) throw new Error(`the SSE crowd process ended (exit code ${this.child.exitCode})`);
    return JSON.parse(value) as unknown;
  }
}
