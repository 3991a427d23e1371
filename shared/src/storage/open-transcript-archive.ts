import type { ArchiveConfig } from './archive-location.js';
import { FsTranscriptArchive } from './fs-transcript-archive.js';
import { createS3Client } from './s3-sdk.js';
import { S3TranscriptArchive } from './s3-transcript-archive.js';
import type { TranscriptArchive } from './transcript-archive.js';

/** The transcript archive a configuration names (`AGENTQ_ARCHIVE_URL`): a directory, or an S3 bucket. */
export function openTranscriptArchive(config: { archive: ArchiveConfig }): TranscriptArchive {
  const { archive } = config;
  if (archive.kind === 'file') return new FsTranscriptArchive(archive.dir);
  return new S3TranscriptArchive({ client: createS3Client(archive.s3), bucket: archive.bucket, prefix: archive.prefix });
}
