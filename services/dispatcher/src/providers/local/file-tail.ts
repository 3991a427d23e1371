import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { OutputLine } from '../sandbox-provider.js';
import { delay } from '@agentq/shared';

export interface FileTailOptions {
  /** Skip this many lines from the start of the file. */
  afterLine: number;
  /** True once the writer is done: after that the file is read to its end and the tail ends. */
  finished: () => boolean | Promise<boolean>;
  pollMs?: number;
  /** Waits between two reads that found nothing new (default: `pollMs`, no sooner). */
  pause?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
}

const CHUNK = 256 * 1024;

/**
 * Follows a file that another process appends to, yielding complete lines in chunks (numbered from
 * 1). A last line without a newline is yielded once the writer has finished.
 */
export async function* tailLines(path: string, options: FileTailOptions): AsyncGenerator<OutputLine[]> {
  const pollMs = options.pollMs ?? 75;
  const handle = await open(path, 'r');
  const decoder = new StringDecoder('utf8');
  const buffer = Buffer.allocUnsafe(CHUNK);
  let position = 0;
  let pending = '';
  let lineNo = 0;
  let draining = false;
  const take = (text: string, out: OutputLine[]) => {
    lineNo += 1;
    if (lineNo > options.afterLine) out.push({ line: lineNo, text: text.endsWith('\r') ? text.slice(0, -1) : text });
  };
  try {
    for (;;) {
      if (options.signal?.aborted) return;
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, position);
      if (bytesRead > 0) {
        position += bytesRead;
        const text = pending + decoder.write(buffer.subarray(0, bytesRead));
        const parts = text.split('\n');
        pending = parts.pop() ?? '';
        const out: OutputLine[] = [];
        for (const part of parts) take(part, out);
        if (out.length > 0) yield out;
        continue;
      }
      if (draining) {
        const rest = pending + decoder.end();
        pending = '';
        const out: OutputLine[] = [];
        if (rest.length > 0) take(rest, out);
        if (out.length > 0) yield out;
        return;
      }
      if (await options.finished()) {
        draining = true; // one more read: what was written just before the end
        continue;
      }
      await (options.pause ?? delay)(pollMs, options.signal);
    }
  } finally {
    await handle.close();
  }
}
