import { dispatchError } from '../../dispatch-errors.js';

/** Stream numbers of the Engine API's multiplexed stream. */
export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
/** Errors of the engine itself (exec and attach). */
export const SYSTEMERR = 3;

export interface Frame {
  stream: number;
  payload: Buffer;
}

const HEADER = 8;

/**
 * Decodes the multiplexed stream the Engine API sends for the logs and exec output of a container
 * without a TTY: frames of an 8-byte header (`[stream, 0, 0, 0]` and the payload size, uint32
 * big-endian) and the payload. Chunks may split headers and payloads anywhere.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** The frames completed by this chunk, in order. Throws when the bytes are no multiplexed stream. */
  push(chunk: Buffer): Frame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < HEADER) return frames;
      const header = this.peek(HEADER);
      const stream = header[0] ?? -1;
      if (stream > SYSTEMERR || header[1] !== 0 || header[2] !== 0 || header[3] !== 0) {
        throw dispatchError('DISPATCH_SANDBOX_FAILED', 'the Docker engine sent output that is not a multiplexed stream (a container with a TTY?)');
      }
      const size = header.readUInt32BE(4);
      if (this.buffered < HEADER + size) return frames;
      this.take(HEADER);
      frames.push({ stream, payload: this.take(size) });
    }
  }

  /** Bytes of an incomplete frame held back (0 when the input ended at a frame boundary). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) return first.subarray(0, n);
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    let first = this.chunks[0];
    if (!first || first.length < n) {
      first = Buffer.concat(this.chunks);
      this.chunks = [first];
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

/**
 * Cuts bytes into lines at `\n` (dropping a `\r` before it). Multi-byte characters never contain
 * the byte `\n`, so a character split between two chunks is decoded whole.
 */
export class LineSplitter {
  private partial: Buffer[] = [];

  push(data: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const at = data.indexOf(0x0a, start);
      if (at < 0) break;
      const piece = data.subarray(start, at);
      const bytes = this.partial.length > 0 ? Buffer.concat([...this.partial, piece]) : piece;
      this.partial = [];
      lines.push(text(bytes));
      start = at + 1;
    }
    if (start < data.length) this.partial.push(data.subarray(start));
    return lines;
  }

  /** The last line when it had no newline; undefined when there is none. */
  end(): string | undefined {
    if (this.partial.length === 0) return undefined;
    const rest = text(Buffer.concat(this.partial));
    this.partial = [];
    return rest.length > 0 ? rest : undefined;
  }
}

function text(bytes: Buffer): string {
  const s = bytes.toString('utf8');
  return s.endsWith('\r') ? s.slice(0, -1) : s;
}
