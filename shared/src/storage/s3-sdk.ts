import type * as ClientS3 from '@aws-sdk/client-s3';
import type * as LibStorage from '@aws-sdk/lib-storage';
import type { S3ConnectionConfig } from './archive-location.js';

type ClientModule = typeof ClientS3;
type StorageModule = typeof LibStorage;

let clientModule: Promise<ClientModule> | undefined;
let storageModule: Promise<StorageModule> | undefined;

/** The AWS SDK's S3 client module, loaded on first use: processes without an S3 archive never load it. */
export function s3Sdk(): Promise<ClientModule> {
  clientModule ??= import('@aws-sdk/client-s3');
  return clientModule;
}

/** The AWS SDK's upload helper (multipart for large bodies), loaded on first use. */
export function s3Storage(): Promise<StorageModule> {
  storageModule ??= import('@aws-sdk/lib-storage');
  return storageModule;
}

/** A store that answers nothing within this is taken as down; the relay retries, the ingress answers 503. */
const CONNECT_TIMEOUT_MS = 5000;
/** Longest silence of a connection within one request. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * An S3 client. Credentials, region and endpoint come from the configuration when set there, else
 * from the AWS SDK's own chain. Stores other than AWS S3 (an endpoint is set) get checksums only
 * where the S3 API requires them, which every S3-compatible store accepts.
 */
export async function createS3Client(s3: S3ConnectionConfig): Promise<ClientS3.S3Client> {
  const { S3Client } = await s3Sdk();
  return new S3Client({
    region: s3.region,
    ...(s3.endpoint ? { endpoint: s3.endpoint, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    forcePathStyle: s3.forcePathStyle,
    ...(s3.credentials ? { credentials: s3.credentials } : {}),
    followRegionRedirects: true,
    maxAttempts: 3,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
  });
}
