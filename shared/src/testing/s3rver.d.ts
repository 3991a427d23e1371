// The parts of s3rver (an S3-compatible test server; it ships no types) the tests use.
declare module 's3rver' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

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

  class S3rver {
    constructor(options?: S3rverOptions);
    /** Creates the `configureBuckets` (kept when they exist in `directory`). */
    configureBuckets(): Promise<void>;
    /** The request handler, to serve from a server of one's own. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }

  export default S3rver;
}
