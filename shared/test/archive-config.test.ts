import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, FsTranscriptArchive, S3TranscriptArchive, configSecrets, loadConfig, openTranscriptArchive, parseArchiveUrl } from '../src/index.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('configuration was accepted');
}

describe('AGENTQ_ARCHIVE_URL', () => {
  it('defaults to <data dir>/transcripts on the filesystem', () => {
    const config = loadConfig({ AGENTQ_DATA_DIR: '/var/lib/agentq' });
    expect(config.archive).toEqual({ kind: 'file', dir: '/var/lib/agentq/transcripts', url: 'file:///var/lib/agentq/transcripts' });
    const archive = openTranscriptArchive(config);
    expect(archive).toBeInstanceOf(FsTranscriptArchive);
    expect(archive.location).toBe('file:///var/lib/agentq/transcripts');
  });

  it('reads file URLs: absolute, localhost, relative to the working directory, %-escaped', () => {
    expect(parseArchiveUrl('file:///srv/transcripts')).toEqual({ ok: true, location: { kind: 'file', dir: '/srv/transcripts' } });
    expect(parseArchiveUrl('file://localhost/srv/t')).toEqual({ ok: true, location: { kind: 'file', dir: '/srv/t' } });
    expect(parseArchiveUrl('file://./data/t', '/work')).toEqual({ ok: true, location: { kind: 'file', dir: '/work/data/t' } });
    expect(parseArchiveUrl('file:///srv/my%20transcripts')).toEqual({ ok: true, location: { kind: 'file', dir: '/srv/my transcripts' } });
    expect(loadConfig({ AGENTQ_ARCHIVE_URL: 'file://./t' }).archive).toMatchObject({ kind: 'file', dir: resolve('t') });
  });

  it('reads s3 URLs: bucket, prefix (slashes trimmed), and the S3 connection settings', () => {
    expect(parseArchiveUrl('s3://agentq-transcripts')).toEqual({ ok: true, location: { kind: 's3', bucket: 'agentq-transcripts', prefix: '' } });
    expect(parseArchiveUrl('s3://agentq/prod/transcripts/')).toEqual({ ok: true, location: { kind: 's3', bucket: 'agentq', prefix: 'prod/transcripts' } });
    const config = loadConfig({
      AGENTQ_ARCHIVE_URL: 's3://agentq/prod',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000',
      AWS_REGION: 'auto',
      AGENTQ_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'the-secret-access-key',
    });
    expect(config.archive).toEqual({
      kind: 's3',
      bucket: 'agentq',
      prefix: 'prod',
      url: 's3://agentq/prod',
      s3: {
        region: 'auto',
        endpoint: 'http://127.0.0.1:9000',
        forcePathStyle: true,
        credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'the-secret-access-key' },
      },
    });
    const archive = openTranscriptArchive(config);
    expect(archive).toBeInstanceOf(S3TranscriptArchive);
    expect(archive.location).toBe('s3://agentq/prod');
    archive.close?.();
  });

  it('leaves credentials and endpoint to the AWS SDK when unset; region defaults to us-east-1', () => {
    const config = loadConfig({ AGENTQ_ARCHIVE_URL: 's3://agentq' });
    expect(config.archive).toMatchObject({ kind: 's3', s3: { region: 'us-east-1', endpoint: undefined, forcePathStyle: false, credentials: undefined } });
  });

  it.each([
    ['/srv/transcripts', /must be a URL/],
    ['http://example.com/bucket', /scheme "http:" is not supported/],
    ['file://srv/transcripts', /absolute directory or one relative/],
    ['file:///srv/t?x=1', /no query/],
    ['file:///srv/%zz', /bad %-escape/],
    ['s3://', /not a bucket name/],
    ['s3://Agentq_Upper', /not a bucket name/],
    ['s3://ab', /not a bucket name/],
    ['s3://key:secret-value@bucket/prefix', /no credentials or port/],
    ['s3://bucket:9000/prefix', /no credentials or port/],
    ['s3://bucket/a//b', /no empty/],
    ['s3://bucket/a/../b', /no empty, `.` or `..`/],
    ['s3://bucket/a b', /path segments/],
    ['s3://bucket/p?versionId=1', /no query/],
  ])('refuses %s with a clear problem', (url, problem) => {
    const result = parseArchiveUrl(url);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toMatch(problem);
  });

  it('reports a bad URL among the other problems, by name, without echoing the value', () => {
    const found = problems({ AGENTQ_ARCHIVE_URL: 's3://key:secret-value@bucket', AGENTQ_PORT: 'eighty', AWS_ENDPOINT_URL_S3: 'minio:9000' });
    expect(found.some((p) => p.startsWith('AGENTQ_ARCHIVE_URL: '))).toBe(true);
    expect(found.some((p) => p.startsWith('AGENTQ_PORT: '))).toBe(true);
    expect(found.some((p) => p.startsWith('AWS_ENDPOINT_URL_S3: '))).toBe(true);
    expect(found.join('\n')).not.toContain('secret-value');
  });

  it('wants both static keys or neither, and a session token only with them', () => {
    expect(problems({ AGENTQ_ARCHIVE_URL: 's3://agentq', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' })).toEqual([
      expect.stringMatching(/^AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: set both, or neither/),
    ]);
    expect(problems({ AWS_SESSION_TOKEN: 'session-token-1' }).join('\n')).toMatch(/AWS_SESSION_TOKEN: set it with/);
  });

  it('hands the secret key and session token to the redactor, not the key id', () => {
    const config = loadConfig({
      AGENTQ_ARCHIVE_URL: 's3://agentq',
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI-secret',
      AWS_SESSION_TOKEN: 'session-token-value',
    });
    expect(configSecrets(config).sort()).toEqual(['session-token-value', 'wJalrXUtnFEMI-secret']);
    expect(config.archive.kind === 's3' && config.archive.s3.credentials?.sessionToken).toBe('session-token-value');
  });

  it('keeps the default data dir default when only the data dir changes', () => {
    expect(loadConfig({ AGENTQ_DATA_DIR: './x' }).archive).toMatchObject({ kind: 'file', dir: join(resolve('./x'), 'transcripts') });
  });
});
