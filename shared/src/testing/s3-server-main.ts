/*
 * An S3-compatible server (s3rver) as a process of its own, for `startTestS3`. Arguments: data
 * directory, bucket. It runs with `--openssl-legacy-provider` (s3rver's list continuation tokens
 * use DES). Messages on the IPC channel: `{listen: port}` (0 for any) answers `{listening: port}`;
 * `{close: true}` stops answering at once (open connections are cut) and answers `{closed: true}`.
 *
 * s3rver answers a PUT before the object is on disk, and leaves a partial object behind when the
 * upload is cut: unlike S3, where a PUT that was answered is stored and one that was not never
 * shows. Its store's `putObject` is wrapped to behave as S3 does (whole body first, then metadata,
 * then the object renamed into place).
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { buffer } from 'node:stream/consumers';
import S3rver from 's3rver';

const [directory, bucket = 'transcripts'] = process.argv.slice(2);
if (!directory || !process.send) throw new Error('usage: node --openssl-legacy-provider s3-server-main.ts <dir> [bucket] (with an IPC channel)');
const send = (message: object) => process.send?.(message);

const s3 = new S3rver({ silent: true, directory, configureBuckets: [{ name: bucket }] });
const store = s3.store;
let writes = 0;
store.putObject = async (object) => {
  const content = Buffer.isBuffer(object.content) ? object.content : await buffer(object.content);
  const path = store.getResourcePath(object.bucket, object.key, 'object');
  const md5 = createHash('md5').update(content).digest('hex');
  await mkdir(dirname(path), { recursive: true });
  await store.putMetadata(object.bucket, object.key, object.metadata, md5);
  const partial = `${path}.${process.pid}.${writes++}.partial`;
  await writeFile(partial, content);
  await rename(partial, path);
  return { size: content.length, md5 };
};
await s3.configureBuckets();

const server = createServer(s3.callback());
process.on('message', (message: { listen?: number; close?: boolean }) => {
  if (message.listen !== undefined) {
    server.listen(message.listen, '127.0.0.1', () => send({ listening: (server.address() as AddressInfo).port }));
  } else if (message.close) {
    server.close(() => send({ closed: true }));
    server.closeAllConnections();
  }
});
process.on('disconnect', () => process.exit(0));
send({ ready: true });
