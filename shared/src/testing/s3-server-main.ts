/*
 * An S3-compatible server (s3rver) as a process of its own: `startTestS3` runs it with
 * `--openssl-legacy-provider` (s3rver's list continuation tokens use DES). Arguments: port (0 for
 * any), data directory, bucket. Prints `listening <port>` once it answers.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import S3rver from 's3rver';

const [port = '0', directory, bucket = 'transcripts'] = process.argv.slice(2);
if (!directory) throw new Error('usage: s3-server-main.ts <port> <dir> [bucket]');
const s3 = new S3rver({ silent: true, directory, configureBuckets: [{ name: bucket }] });
await s3.configureBuckets();
const server = createServer(s3.callback());
server.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
