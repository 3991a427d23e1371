import { createServer, request } from 'node:http';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client, loadConfig, newTaskId, openTranscriptArchive, type AgentEvent, type TaskRecord, type TranscriptArchive } from '../src/index.js';
import { S3TranscriptArchive } from '../src/storage/s3-transcript-archive.js';
import { startTestS3, uniquePrefix, type TestS3 } from '../src/testing/index.js';
import { closeServer, listenOnLoopback } from '../src/testing/loopback-server.js';

let s3: TestS3;
let raw: S3Client;

beforeAll(async () => {
  s3 = await startTestS3();
  raw = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
});

afterAll(async () => {
  raw.destroy();
  await s3.remove();
});

/** An archive as the services open it: from the configuration, through AWS_ENDPOINT_URL_S3 and path style. */
function open(prefix: string): TranscriptArchive {
  return openTranscriptArchive(loadConfig(s3.env(prefix)));
}

function events(taskId: string, from: number, to: number): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let seq = from; seq <= to; seq++) out.push({ v: 1, taskId, seq, ts: new Date(seq * 1000).toISOString(), kind: 'agent.message', text: `message ${seq} ✓` });
  return out;
}

function record(id: string, lastSeq: number): TaskRecord {
  const now = new Date().toISOString();
  return { id, state: 'succeeded', repo: 'demo/hello', prompt: 'add a file', team: 'default', source: 'api', createdAt: now, updatedAt: now, lastSeq };
}

async function keys(prefix: string): Promise<string[]> {
  const page = await raw.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key ?? '');
}

const seqs = (list: AgentEvent[]) => list.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('S3 transcript archive (s3rver through the AWS SDK)', () => {
  it('writes chunks named by seq range, reads them merged, consolidates on writeTask and removes the chunks', async () => {
    const prefix = uniquePrefix('s3');
    const archive = open(prefix);
    const id = newTaskId();
    expect(await archive.readEvents(id)).toEqual([]);
    expect(await archive.readTask(id)).toBeUndefined();
    expect(await archive.append(id, events(id, 1, 3))).toBe(3);
    expect(await archive.append(id, events(id, 2, 7))).toBe(4);
    expect(await archive.append(id, events(id, 1, 7))).toBe(0);
    expect(await keys(`${prefix}/${id}/`)).toEqual([
      `${prefix}/${id}/chunks/000000000001-000000000003.jsonl`,
      `${prefix}/${id}/chunks/000000000004-000000000007.jsonl`,
    ]);
    expect(await archive.readEvents(id)).toEqual(events(id, 1, 7));
    expect(seqs(await archive.readEvents(id, 5))).toEqual([6, 7]);
    expect(await archive.lastSeq(id)).toBe(7);

    const final = record(id, 7);
    await archive.writeTask(final);
    expect(await keys(`${prefix}/${id}/`)).toEqual([`${prefix}/${id}/events.jsonl`, `${prefix}/${id}/task.json`]);
    expect(await archive.readEvents(id)).toEqual(events(id, 1, 7));
    expect(await archive.readTask(id)).toEqual(final);
    // a second consolidation (a relay that crashed before acknowledging) changes nothing
    await archive.writeTask(final);
    expect(await open(prefix).readEvents(id)).toEqual(events(id, 1, 7));
    // a fresh process learns the last seq from events.jsonl and writes nothing again
    const fresh = open(prefix);
    expect(await fresh.lastSeq(id)).toBe(7);
    expect(await fresh.append(id, events(id, 1, 7))).toBe(0);
  });

  it('holds the events of an ended task for writeTask and writes them once, in events.jsonl; over its memory budget it writes chunks', async () => {
    const prefix = uniquePrefix('s3ended');
    const archive = open(prefix);
    const id = newTaskId();
    // what a running relay wrote before the task ended
    expect(await archive.append(id, events(id, 1, 4))).toBe(4);
    // the stream replayed after the end: nothing more is written until writeTask
    expect(await archive.append(id, events(id, 1, 6), { ended: true })).toBe(2);
    expect(await archive.append(id, events(id, 7, 9), { ended: true })).toBe(3);
    expect(await archive.lastSeq(id)).toBe(9);
    expect(await keys(`${prefix}/${id}/`)).toEqual([`${prefix}/${id}/chunks/000000000001-000000000004.jsonl`]);
    await archive.writeTask(record(id, 9));
    expect(await keys(`${prefix}/${id}/`)).toEqual([`${prefix}/${id}/events.jsonl`, `${prefix}/${id}/task.json`]);
    expect(await open(prefix).readEvents(id)).toEqual(events(id, 1, 9));

    // a process that forgets the task (it lost it to another relay) drops what it held
    const other = newTaskId();
    expect(await archive.append(other, events(other, 1, 3), { ended: true })).toBe(3);
    archive.forget?.(other);
    expect(await archive.lastSeq(other)).toBe(0);

    // no room to hold them: they are written as a chunk at once
    const small = new S3TranscriptArchive({ client: raw, bucket: s3.bucket, prefix, writtenCacheBytes: 10 });
    const third = newTaskId();
    expect(await small.append(third, events(third, 1, 2), { ended: true })).toBe(2);
    expect(await keys(`${prefix}/${third}/`)).toEqual([`${prefix}/${third}/chunks/000000000001-000000000002.jsonl`]);
  });

  it('two writers at once with overlapping and repeated ranges: every event once, in seq order', async () => {
    const prefix = uniquePrefix('s3two');
    const a = open(prefix);
    const b = open(prefix);
    const id = newTaskId();
    // each writer delivers the stream in batches of its own size; b repeats a's ranges after a restart
    const batchesA = [[1, 10], [11, 25], [26, 60]] as const;
    const batchesB = [[1, 7], [8, 40], [41, 55], [56, 60]] as const;
    await Promise.all([
      (async () => {
        for (const [from, to] of batchesA) await a.append(id, events(id, from, to));
      })(),
      (async () => {
        for (const [from, to] of batchesB) await b.append(id, events(id, from, to));
      })(),
    ]);
    // the same range written twice (a duplicate delivery to a writer that forgot what it wrote)
    a.forget?.(id);
    await new S3TranscriptArchive({ client: raw, bucket: s3.bucket, prefix }).append(id, events(id, 26, 60));
    const reader = open(prefix);
    expect(await reader.readEvents(id)).toEqual(events(id, 1, 60));
    expect(seqs(await reader.readEvents(id, 30))).toEqual(range(31, 60));
    await a.writeTask(record(id, 60));
    expect(await keys(`${prefix}/${id}/`)).toEqual([`${prefix}/${id}/events.jsonl`, `${prefix}/${id}/task.json`]);
    expect(await reader.readEvents(id)).toEqual(events(id, 1, 60));
  });

  it('readers during consolidation always see the whole transcript', async () => {
    const prefix = uniquePrefix('s3race');
    const writer = open(prefix);
    const id = newTaskId();
    for (let from = 1; from <= 400; from += 20) await writer.append(id, events(id, from, from + 19));
    let done = false;
    const reads: number[][] = [];
    const reading = (async () => {
      const reader = open(prefix);
      while (!done) reads.push(seqs(await reader.readEvents(id)));
    })();
    await writer.writeTask(record(id, 400));
    done = true;
    await reading;
    expect(reads.length).toBeGreaterThan(0);
    for (const read of reads) expect(read).toEqual(range(1, 400));
  });

  it('keeps large transcripts whole (multipart upload of events.jsonl) and bodies byte for byte', async () => {
    const prefix = uniquePrefix('s3big');
    const archive = open(prefix);
    const id = newTaskId();
    const big = 'x'.repeat(64 * 1024);
    const list: AgentEvent[] = range(1, 200).map((seq) => ({ v: 1, taskId: id, seq, ts: 't', kind: 'agent.tool_result', ok: true, output: `${seq} ${big} "quoted" \n newline` }));
    for (let i = 0; i < list.length; i += 50) await archive.append(id, list.slice(i, i + 50));
    await archive.writeTask(record(id, 200));
    expect(await open(prefix).readEvents(id)).toEqual(list);
  });

  it('lists page after page, and reads what it wrote without reading it back when asked to keep nothing', async () => {
    const prefix = uniquePrefix('s3page');
    const archive = new S3TranscriptArchive({ client: raw, bucket: s3.bucket, prefix, listPageSize: 2, writtenCacheBytes: 0 });
    const id = newTaskId();
    for (let from = 1; from <= 19; from += 3) await archive.append(id, events(id, from, from + 2));
    archive.forget(id);
    expect(await archive.lastSeq(id)).toBe(21);
    expect(await archive.readEvents(id)).toEqual(events(id, 1, 21));
    await archive.writeTask(record(id, 21));
    expect(await keys(`${prefix}/${id}/`)).toEqual([`${prefix}/${id}/events.jsonl`, `${prefix}/${id}/task.json`]);
    expect(await open(prefix).readEvents(id)).toEqual(events(id, 1, 21));
  });

  it('removes chunks one by one on a store without multi-object delete (as Google Cloud Storage answers)', async () => {
    // in front of s3rver: POST ?delete is refused the way GCS refuses it, the rest passes through
    const refused: string[] = [];
    const proxy = createServer((req, res) => {
      if (req.method === 'POST' && /[?&]delete\b/.test(req.url ?? '')) {
        refused.push(req.url ?? '');
        req.resume();
        res.writeHead(501, { 'content-type': 'application/xml' });
        res.end("<?xml version='1.0' encoding='UTF-8'?><Error><Code>NotImplemented</Code><Message>A header or query you provided requested a function that is not implemented.</Message></Error>");
        return;
      }
      const upstream = request(`${s3.endpoint}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers);
        reply.pipe(res);
      });
      req.pipe(upstream);
    });
    const endpoint = await listenOnLoopback(proxy);
    try {
      const prefix = uniquePrefix('s3gcs');
      const archive = openTranscriptArchive(loadConfig({ ...s3.env(prefix), AWS_ENDPOINT_URL_S3: endpoint }));
      for (const id of [newTaskId(), newTaskId()]) {
        for (let from = 1; from <= 10; from += 5) await archive.append(id, events(id, from, from + 4));
        await archive.writeTask(record(id, 10));
        expect(await keys(`${prefix}/${id}/`)).toEqual([`${prefix}/${id}/events.jsonl`, `${prefix}/${id}/task.json`]);
        expect(await archive.readEvents(id)).toEqual(events(id, 1, 10));
      }
      // asked once, then never again
      expect(refused).toHaveLength(1);
      archive.close?.();
    } finally {
      await closeServer(proxy);
    }
  });

  it('without a prefix, objects sit at the bucket root', async () => {
    const archive = open('');
    const id = newTaskId();
    await archive.append(id, events(id, 1, 2));
    expect(await keys(`${id}/`)).toEqual([`${id}/chunks/000000000001-000000000002.jsonl`]);
  });

  it('refuses invalid task ids before any request', async () => {
    const archive = open('x');
    await expect(archive.readEvents('../etc')).rejects.toThrow(/invalid task id/);
    await expect(archive.append('A/B', [])).rejects.toThrow(/invalid task id/);
  });

  it('reports a missing bucket and a server that is down as errors, never as an empty transcript', async () => {
    const missing = openTranscriptArchive(loadConfig({ ...s3.env(), AGENTQ_ARCHIVE_URL: 's3://no-such-bucket/p' }));
    await expect(missing.check?.()).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(missing.readEvents(newTaskId())).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(missing.readTask(newTaskId())).rejects.toMatchObject({ name: 'NoSuchBucket' });

    const down = await startTestS3();
    const archive = openTranscriptArchive(loadConfig(down.env('p')));
    await archive.check?.();
    await down.remove();
    await expect(archive.check?.()).rejects.toThrow(/ECONNREFUSED/);
    await expect(archive.readTask(newTaskId())).rejects.toThrow(/ECONNREFUSED/);
    await expect(archive.append(newTaskId(), events('x', 1, 1))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('a client that cannot be made fails the calls, not the process', async () => {
    const archive = new S3TranscriptArchive({ client: Promise.reject(new Error('no client')), bucket: 'b', prefix: '' });
    await new Promise((r) => setTimeout(r, 10));
    await expect(archive.check()).rejects.toThrow('no client');
  });

  it('createS3Client honours the configured endpoint, path style and keys', async () => {
    const config = loadConfig(s3.env('p'));
    if (config.archive.kind !== 's3') throw new Error('expected an s3 archive');
    const client = await createS3Client(config.archive.s3);
    const reply = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, MaxKeys: 1 }));
    expect(reply.$metadata.httpStatusCode).toBe(200);
    client.destroy();
  });
});
