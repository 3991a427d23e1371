import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { AgentEvent } from '@agentq/shared';

/**
 * One `text/event-stream` response: events as `id: <seq>` + `data: <json>` (default message
 * type), heartbeat comments, closed once (by us or by the client). Writes never wait: what the
 * socket does not take yet is queued, and a client more than `maxQueued` events behind is
 * disconnected (it reconnects with `Last-Event-ID`), so a slow reader holds up no one.
 */
export class SseStream {
  private closed = false;
  private ending = false;
  private waitingForDrain = false;
  private readonly queued: string[] = [];
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeListeners: (() => void)[] = [];
  /** True when the stream was closed because its client fell too far behind. */
  tooSlow = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly heartbeatMs: number,
    private readonly maxQueued: number,
  ) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 3000\n\n');
    this.heartbeat = setInterval(() => {
      if (!this.waitingForDrain) this.write(': heartbeat\n\n');
    }, heartbeatMs);
    res.on('close', () => this.finish());
    res.on('drain', () => this.flush());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Runs when the stream ends for any reason (the client went away, the task ended, shutdown). */
  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  /** Queues an event; false when the stream is closed (or just was, its client too far behind). */
  send(event: AgentEvent): boolean {
    this.write(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
    return !this.closed;
  }

  /** Resolves once the socket took everything queued (or the stream closed): replay pages wait for it. */
  async drained(): Promise<void> {
    while (!this.closed && this.waitingForDrain) {
      await Promise.race([once(this.res, 'drain'), once(this.res, 'close')]);
    }
  }

  /** Ends the response after what is queued has been written (at most a heartbeat interval later). */
  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    if (!this.waitingForDrain) return this.close();
    setTimeout(() => this.close(), this.heartbeatMs).unref();
  }

  /** Ends the response now. */
  close(): void {
    if (this.closed) return;
    this.finish();
    this.res.end();
  }

  private write(chunk: string): void {
    if (this.closed || this.ending) return;
    if (this.waitingForDrain) {
      this.queued.push(chunk);
      if (this.queued.length > this.maxQueued) {
        this.tooSlow = true;
        this.queued.length = 0;
        this.finish();
        this.res.destroy();
      }
      return;
    }
    if (!this.res.write(chunk)) this.waitingForDrain = true;
  }

  private flush(): void {
    this.waitingForDrain = false;
    while (!this.closed && this.queued.length > 0) {
      const chunk = this.queued.shift() as string;
      if (!this.res.write(chunk)) {
        this.waitingForDrain = true;
        return;
      }
    }
    if (this.ending) this.close();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}
