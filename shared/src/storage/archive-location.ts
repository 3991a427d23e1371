import { isAbsolute, resolve } from 'node:path';

/** Where transcripts are kept, as `AGENTQ_ARCHIVE_URL` names it. */
export type ArchiveLocation =
  | { kind: 'file'; /** Absolute directory. */ dir: string }
  | { kind: 's3'; bucket: string; /** Key prefix without leading or trailing `/`; empty for the bucket's root. */ prefix: string };

/** How the S3 client connects; unset values come from the AWS SDK's own defaults (environment, profile, instance role). */
export interface S3ConnectionConfig {
  region: string;
  /** `AWS_ENDPOINT_URL_S3`: MinIO, R2, GCS; undefined for AWS S3. */
  endpoint: string | undefined;
  forcePathStyle: boolean;
  /** Static keys; undefined: the SDK's default credential chain. Secret: never log this. */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
}

/** The archive of a configuration: where, and for S3 how to connect. */
export type ArchiveConfig = ({ kind: 'file'; dir: string } | { kind: 's3'; bucket: string; prefix: string; s3: S3ConnectionConfig }) & {
  /** The location as a URL, for logs (`file:///…`, `s3://bucket/prefix`). */
  url: string;
};

export type ArchiveUrlResult = { ok: true; location: ArchiveLocation } | { ok: false; problem: string };

/** S3 bucket names (AWS, MinIO, R2), and GCS's, which may hold `_`. */
const BUCKET = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;
/** Characters S3 documents as safe in keys. */
const PREFIX_SEGMENT = /^[A-Za-z0-9!_.*'()-]+$/;

const FILE_HINT = 'file:///absolute/dir or file://./relative/dir';
const S3_HINT = 's3://bucket or s3://bucket/prefix';

function parseFile(rest: string, cwd: string): ArchiveUrlResult {
  let path: string;
  try {
    path = decodeURIComponent(rest.startsWith('localhost/') ? rest.slice('localhost'.length) : rest);
  } catch {
    return { ok: false, problem: `not a valid file URL (bad %-escape); use ${FILE_HINT}` };
  }
  const relative = path === '.' || path === '..' || path.startsWith('./') || path.startsWith('../');
  if (!isAbsolute(path) && !relative) return { ok: false, problem: `a file URL names an absolute directory or one relative to the working directory: ${FILE_HINT}` };
  if (/[?#]/.test(rest)) return { ok: false, problem: `a file URL has no query or fragment; use ${FILE_HINT}` };
  return { ok: true, location: { kind: 'file', dir: resolve(cwd, path) } };
}

function parseS3(rest: string): ArchiveUrlResult {
  if (/[?#]/.test(rest)) return { ok: false, problem: `an s3 URL has no query or fragment; use ${S3_HINT}` };
  const slash = rest.indexOf('/');
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefixPart = slash === -1 ? '' : rest.slice(slash + 1);
  if (bucket.includes('@') || bucket.includes(':')) {
    return { ok: false, problem: 'an s3 URL holds no credentials or port: set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL_S3 instead' };
  }
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    return { ok: false, problem: `the bucket is not a bucket name (3–222 lowercase letters, digits, '.', '-', '_'); use ${S3_HINT}` };
  }
  const prefix = prefixPart.replace(/\/+$/, '');
  if (prefix !== '') {
    const segments = prefix.split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..' || !PREFIX_SEGMENT.test(s))) {
      return { ok: false, problem: 'the prefix of an s3 URL is path segments of letters, digits and !_.*\'()- (no empty, `.` or `..` segment)' };
    }
    if (prefix.length > 512) return { ok: false, problem: 'the prefix of an s3 URL is at most 512 characters' };
  }
  return { ok: true, location: { kind: 's3', bucket, prefix } };
}

/**
 * Reads `AGENTQ_ARCHIVE_URL`: `file://<dir>` (absolute, or `./`-relative to `cwd`) or
 * `s3://<bucket>[/<prefix>]`. The problem text never repeats the value.
 */
export function parseArchiveUrl(url: string, cwd = process.cwd()): ArchiveUrlResult {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(url.trim());
  if (!match) return { ok: false, problem: `must be a URL: ${FILE_HINT}, or ${S3_HINT}` };
  const scheme = (match[1] as string).toLowerCase();
  const rest = match[2] as string;
  if (scheme === 'file') return parseFile(rest, cwd);
  if (scheme === 's3') return parseS3(rest);
  return { ok: false, problem: `scheme ${JSON.stringify(`${scheme}:`)} is not supported: use ${FILE_HINT}, or ${S3_HINT}` };
}

/** The URL of a location, for logs and docs. */
export function archiveUrl(location: ArchiveLocation): string {
  if (location.kind === 'file') return `file://${location.dir}`;
  return location.prefix ? `s3://${location.bucket}/${location.prefix}` : `s3://${location.bucket}`;
}
