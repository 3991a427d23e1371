import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { AgentEvent } from '@agentq/shared';

/**
 * One `text/event-stream` response: events as `id: <seq>` + `data: <json>` (default message
 * type), heartbeat comments, backpressure respected, closed once (by us or by the client).
 */
export class SseStream {
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeListeners: (() => void)[] = [];

  constructor(
    private readonly res: ServerResponse,
    heartbeatMs: number,
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 3000\n\n');
    this.heartbeat = setInterval(() => void this.write(': heartbeat\n\n'), heartbeatMs);
    res.on('close', () => this.finish());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Runs when the stream ends for any reason (the client went away, the task ended, shutdown). */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  async send(event: AgentEvent): Promise<void> {
    await this.write(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
  }

  close(): void {
    if (this.closed) return;
    this.finish();
    this.res.end();
  }

  private async write(chunk: string): Promise<void> {
    if (this.closed) return;
    if (this.res.write(chunk)) return;
    await Promise.race([once(this.res, 'drain'), once(this.res, 'close')]);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
