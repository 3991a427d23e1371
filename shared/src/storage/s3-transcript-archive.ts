import type { S3Client } from '@aws-sdk/client-s3';
import type { AgentEvent } from '../events/agent-event.js';
import { isTaskId } from '../ids.js';
import type { TaskRecord } from '../tasks/task-record.js';
import { eventsAfter, toJsonl } from './jsonl.js';
import { s3Sdk, s3Storage } from './s3-sdk.js';
import type { AppendOptions, TranscriptArchive } from './transcript-archive.js';

export interface S3TranscriptArchiveOptions {
  /** The client, or its promise (`createS3Client`). */
  client: S3Client | Promise<S3Client>;
  bucket: string;
  /** Key prefix without leading or trailing `/` (empty: the bucket's root). */
  prefix: string;
  /** Requests at once when one call reads or removes many objects (default 8). */
  concurrency?: number;
  /**
   * Bytes of chunks this process wrote that it keeps in memory, so that consolidating a task it
   * wrote needs no reading back (default 32 MiB over all tasks; 0 turns it off).
   */
  writtenCacheBytes?: number;
  /** Keys per listing request (default 1000, the most S3 gives). */
  listPageSize?: number;
}

/** Digits of the seq numbers in chunk names: listing order is seq order. */
const SEQ_DIGITS = 12;
const CHUNK_NAME = /^chunks\/(\d{12})-(\d{12})\.jsonl$/;
const EVENTS_NAME = 'events.jsonl';
const TASK_NAME = 'task.json';
const JSONL = 'application/x-ndjson';
/** Reads that found a listed object gone (the writer consolidated meanwhile) start over this often. */
const READ_ATTEMPTS = 5;
/** Keys one multi-object delete may name. */
const MULTI_DELETE_MAX = 1000;
/** Parts of the multipart upload of a large `events.jsonl`. */
const PART_BYTES = 8 * 1024 * 1024;

interface Chunk {
  key: string;
  first: number;
  last: number;
}

interface Listing {
  chunks: Chunk[];
  /** Key of the consolidated `events.jsonl`, when there is one. */
  whole: string | undefined;
}

const pad = (seq: number) => String(seq).padStart(SEQ_DIGITS, '0');

function isMissingKey(err: unknown): boolean {
  return (err as { name?: unknown } | undefined)?.name === 'NoSuchKey';
}

/** Runs `work` over `items`, at most `limit` at a time; results in the order of `items`. */
async function mapConcurrent<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function parseJsonl(text: string): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    try {
      out.push(JSON.parse(line) as AgentEvent);
    } catch {
      // objects are written whole; a line that is not JSON was not written by agentq
    }
  }
  return out;
}

/**
 * Transcripts in an S3-compatible bucket, under `<prefix>/<taskId>/`:
 *
 * - `chunks/<firstSeq>-<lastSeq>.jsonl` (12-digit, zero-padded): each `append` writes the events
 *   above the last seq it knows as one object. Writing the same range again writes the same bytes;
 *   overlapping chunks (two relays, a restart, a redelivery) are merged by seq when read.
 * - `events.jsonl`: the whole transcript, seq ascending, written by `writeTask` when the task
 *   ended, which then writes `task.json` and removes the chunks it consolidated (a chunk written
 *   after that, by a relay that lost the task meanwhile, only repeats what `events.jsonl` holds).
 * - `task.json`: the final record.
 *
 * Readers merge `events.jsonl` and whatever chunks are listed, so a transcript reads the same
 * before, during and after consolidation.
 */
export class S3TranscriptArchive implements TranscriptArchive {
  readonly location: string;
  private readonly client: Promise<S3Client>;
  private readonly bucket: string;
  private readonly base: string;
  private readonly concurrency: number;
  private readonly cacheLimit: number;
  private readonly pageSize: number;
  private cachedBytes = 0;
  /** Whether the store takes multi-object deletes (until it refuses one). */
  private multiDelete = true;
  /** Last seq stored, per task, as far as this process knows. */
  private readonly known = new Map<string, number>();
  /** Bodies of the chunks this process wrote, per task (key → JSONL). */
  private readonly written = new Map<string, Map<string, string>>();
  /** Events of ended tasks held for `writeTask` instead of written as chunks (counted in the cache bytes). */
  private readonly held = new Map<string, { events: AgentEvent[]; bytes: number }>();

  constructor(options: S3TranscriptArchiveOptions) {
    this.client = Promise.resolve(options.client);
    // a client that cannot be made fails the first call that needs it, not the process
    this.client.catch(() => {});
    this.bucket = options.bucket;
    this.base = options.prefix ? `${options.prefix}/` : '';
    this.concurrency = options.concurrency ?? 8;
    this.cacheLimit = options.writtenCacheBytes ?? 32 * 1024 * 1024;
    this.pageSize = options.listPageSize ?? 1000;
    this.location = `s3://${options.bucket}${options.prefix ? `/${options.prefix}` : ''}`;
  }

  /** `<prefix>/<taskId>/`: where a task's objects are. */
  taskPrefix(taskId: string): string {
    if (!isTaskId(taskId)) throw new Error(`invalid task id ${JSON.stringify(taskId)}`);
    return `${this.base}${taskId}/`;
  }

  /** Key of the chunk holding seq `first` to `last`. */
  chunkKey(taskId: string, first: number, last: number): string {
    return `${this.taskPrefix(taskId)}chunks/${pad(first)}-${pad(last)}.jsonl`;
  }

  async check(): Promise<void> {
    const { client, sdk } = await this.connect();
    await client.send(new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.base, MaxKeys: 1 }));
  }

  async lastSeq(taskId: string): Promise<number> {
    const cached = this.known.get(taskId);
    if (cached !== undefined) return cached;
    const listing = await this.list(taskId);
    let last = listing.chunks.reduce((max, c) => Math.max(max, c.last), 0);
    if (listing.whole) {
      const events = await this.readEvents(taskId, last);
      last = events[events.length - 1]?.seq ?? last;
    }
    this.known.set(taskId, last);
    return last;
  }

  forget(taskId: string): void {
    this.known.delete(taskId);
    this.dropWritten(taskId);
  }

  async append(taskId: string, events: AgentEvent[], options: AppendOptions = {}): Promise<number> {
    const fresh = eventsAfter(events, await this.lastSeq(taskId));
    const first = fresh[0];
    const last = fresh[fresh.length - 1]?.seq;
    if (!first || last === undefined) return 0;
    const body = toJsonl(fresh);
    // an ended task's events are written once, in events.jsonl, rather than twice (chunks, then the whole)
    if (options.ended && this.hold(taskId, fresh, Buffer.byteLength(body))) {
      this.known.set(taskId, last);
      return fresh.length;
    }
    const key = this.chunkKey(taskId, first.seq, last);
    const { client, sdk } = await this.connect();
    await client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: JSONL }));
    this.known.set(taskId, last);
    this.remember(taskId, key, body);
    return fresh.length;
  }

  async readEvents(taskId: string, afterSeq = 0): Promise<AgentEvent[]> {
    return (await this.readConsistent(taskId, afterSeq)).events;
  }

  /**
   * The task ended and its events are stored: writes the whole transcript as `events.jsonl`, then
   * `task.json` while it removes the chunks it consolidated. Safe to repeat, also after a crash in
   * between (the chunks left are consolidated again).
   */
  async writeTask(task: TaskRecord): Promise<void> {
    const prefix = this.taskPrefix(task.id);
    const stored = await this.readConsistent(task.id, 0);
    const { listing } = stored;
    const held = this.held.get(task.id)?.events ?? [];
    const events = held.length > 0 ? mergeBySeq([stored.events, held]) : stored.events;
    const { client, sdk } = await this.connect();
    if (listing.chunks.length > 0 || !listing.whole || held.length > 0) {
      const { Upload } = await s3Storage();
      const upload = new Upload({
        client,
        params: { Bucket: this.bucket, Key: `${prefix}${EVENTS_NAME}`, Body: Buffer.from(toJsonl(events)), ContentType: JSONL },
        partSize: PART_BYTES,
        queueSize: 4,
      });
      await upload.done();
    }
    // events.jsonl holds every chunk now: the chunks go while task.json is written
    const record = `${JSON.stringify(task, null, 2)}\n`;
    await Promise.all([
      client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key: `${prefix}${TASK_NAME}`, Body: record, ContentType: 'application/json' })),
      this.remove(listing.chunks.map((c) => c.key)),
    ]);
    this.dropWritten(task.id);
    this.known.set(task.id, events[events.length - 1]?.seq ?? 0);
  }

  async readTask(taskId: string): Promise<TaskRecord | undefined> {
    const text = await this.getText(`${this.taskPrefix(taskId)}${TASK_NAME}`);
    return text === undefined ? undefined : (JSON.parse(text) as TaskRecord);
  }

  close(): void {
    this.client.then((client) => client.destroy(), () => {});
  }

  private async connect(): Promise<{ client: S3Client; sdk: Awaited<ReturnType<typeof s3Sdk>> }> {
    const [client, sdk] = await Promise.all([this.client, s3Sdk()]);
    return { client, sdk };
  }

  /** Lists, then reads what was listed; starts over when an object listed is gone by then. */
  private async readConsistent(taskId: string, afterSeq: number): Promise<{ events: AgentEvent[]; listing: Listing }> {
    for (let attempt = 1; ; attempt++) {
      const listing = await this.list(taskId);
      const sources = [...(listing.whole ? [listing.whole] : []), ...listing.chunks.filter((c) => c.last > afterSeq).map((c) => c.key)];
      const texts = await mapConcurrent(sources, this.concurrency, (key) => this.readChunk(taskId, key));
      if (texts.some((t) => t === undefined)) {
        if (attempt < READ_ATTEMPTS) continue;
        throw new Error(`objects of task ${taskId} kept vanishing while they were read`);
      }
      const events = mergeBySeq(texts.map((text) => parseJsonl(text as string)), afterSeq);
      return { events, listing };
    }
  }

  /**
   * Removes objects: by multi-object delete (1000 a request) while the store has it, else one
   * request per object (Google Cloud Storage has no multi-object delete: its first refusal switches
   * this archive to single deletes).
   */
  private async remove(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    if (this.multiDelete && (await this.removeMany(keys))) return;
    const { client, sdk } = await this.connect();
    await mapConcurrent(keys, this.concurrency, (key) => client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
  }

  /** Multi-object deletes; false when the store refuses the request kind. */
  private async removeMany(keys: string[]): Promise<boolean> {
    const { client, sdk } = await this.connect();
    for (let i = 0; i < keys.length; i += MULTI_DELETE_MAX) {
      const batch = keys.slice(i, i + MULTI_DELETE_MAX);
      let reply;
      try {
        reply = await client.send(new sdk.DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      } catch (err) {
        // GCS answers 400 InvalidArgument or 501 NotImplemented; anything else is a failure
        const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status !== 400 && status !== 405 && status !== 501) throw err;
        this.multiDelete = false;
        return false;
      }
      const failed = (reply.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length > 0) throw new Error(`${failed.length} chunk(s) not removed (${failed[0]?.Code ?? 'error'})`);
    }
    return true;
  }

  private async readChunk(taskId: string, key: string): Promise<string | undefined> {
    return this.written.get(taskId)?.get(key) ?? (await this.getText(key));
  }

  private async list(taskId: string): Promise<Listing> {
    const prefix = this.taskPrefix(taskId);
    const listing: Listing = { chunks: [], whole: undefined };
    const { client, sdk } = await this.connect();
    let token: string | undefined;
    do {
      const page = await client.send(new sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: this.pageSize }));
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(prefix.length);
        if (!name || !object.Key) continue;
        if (name === EVENTS_NAME) listing.whole = object.Key;
        const match = CHUNK_NAME.exec(name);
        if (match) listing.chunks.push({ key: object.Key, first: Number(match[1]), last: Number(match[2]) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    listing.chunks.sort((a, b) => a.first - b.first || a.last - b.last);
    return listing;
  }

  /** An object's text, or undefined when there is no such key (a missing bucket is an error). */
  private async getText(key: string): Promise<string | undefined> {
    const { client, sdk } = await this.connect();
    try {
      const reply = await client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return (await reply.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (isMissingKey(err)) return undefined;
      throw err;
    }
  }

  private remember(taskId: string, key: string, body: string): void {
    const bytes = Buffer.byteLength(body);
    if (this.cachedBytes + bytes > this.cacheLimit) return;
    let chunks = this.written.get(taskId);
    if (!chunks) {
      chunks = new Map();
      this.written.set(taskId, chunks);
    }
    if (chunks.has(key)) return;
    chunks.set(key, body);
    this.cachedBytes += bytes;
  }

  /** Holds an ended task's events for `writeTask`, when the cache has room for them. */
  private hold(taskId: string, events: AgentEvent[], bytes: number): boolean {
    if (this.cachedBytes + bytes > this.cacheLimit) return false;
    const held = this.held.get(taskId) ?? { events: [], bytes: 0 };
    held.events.push(...events);
    held.bytes += bytes;
    this.held.set(taskId, held);
    this.cachedBytes += bytes;
    return true;
  }

  private dropWritten(taskId: string): void {
    const chunks = this.written.get(taskId);
    if (chunks) {
      for (const body of chunks.values()) this.cachedBytes -= Buffer.byteLength(body);
      this.written.delete(taskId);
    }
    const held = this.held.get(taskId);
    if (held) {
      this.cachedBytes -= held.bytes;
      this.held.delete(taskId);
    }
  }
}

/** The events of several sources after `afterSeq`, each seq once (the first source's copy wins), seq ascending. */
function mergeBySeq(sources: AgentEvent[][], afterSeq = 0): AgentEvent[] {
  const bySeq = new Map<number, AgentEvent>();
  for (const events of sources) {
    for (const event of events) {
      if (event.seq > afterSeq && !bySeq.has(event.seq)) bySeq.set(event.seq, event);
    }
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}
