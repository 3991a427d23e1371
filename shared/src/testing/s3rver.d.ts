// The parts of s3rver (an S3-compatible test server; it ships no types) the tests use.
declare module 's3rver' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type { Readable } from 'node:stream';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: { name: string; configs?: (string | Buffer)[] }[];
  }

  /** An object as s3rver's store takes it. */
  interface S3rverObject {
    bucket: string;
    key: string;
    content: Buffer | Readable;
    metadata: Record<string, string>;
  }

  /** s3rver's filesystem store (the methods the tests wrap). */
  interface S3rverStore {
    getResourcePath(bucket: string, key: string, resource: string): string;
    putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
    putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  }

  class S3rver {
    constructor(options?: S3rverOptions);
    readonly store: S3rverStore;
    /** Creates the `configureBuckets` (kept when they exist in `directory`). */
    configureBuckets(): Promise<void>;
    /** The request handler, to serve from a server of one's own. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }

  export default S3rver;
}
