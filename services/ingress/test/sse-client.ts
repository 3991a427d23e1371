import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { AgentEvent } from '@agentq/shared';

/** A test client of an SSE endpoint: collects events and comments, knows when the server ended it. */
export class SseClient {
  readonly events: AgentEvent[] = [];
  readonly messages: EventSourceMessage[] = [];
  readonly comments: string[] = [];
  status = 0;
  contentType = '';
  ended = false;
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    const res = await fetch(url, { headers, signal: client.abort.signal });
    client.status = res.status;
    client.contentType = res.headers.get('content-type') ?? '';
    if (!res.body) {
      client.ended = true;
      return client;
    }
    const parser = createParser({
      onEvent: (message) => {
        client.messages.push(message);
        client.events.push(JSON.parse(message.data) as AgentEvent);
      },
      onComment: (comment) => client.comments.push(comment.trim()),
    });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    client.done = (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(decoder.decode(value, { stream: true }));
        }
      } catch {
        // aborted by close()
      } finally {
        client.ended = true;
      }
    })();
    return client;
  }

  /** Resolves when the server has ended the response. */
  finished(): Promise<void> {
    return this.done;
  }

  close(): void {
    this.abort.abort();
  }
}
