import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { REDACTED, createLogger, createRedactor } from '../src/index.js';

describe('createRedactor', () => {
  const secret = 'sk-ant-"quoted"/value+==';
  const redact = createRedactor([secret, undefined, 'abc']);

  it('replaces the value and its JSON, URL and base64 forms', () => {
    expect(redact(`key=${secret}`)).toBe(`key=${REDACTED}`);
    expect(redact(JSON.stringify({ key: secret }))).toBe(`{"key":"${REDACTED}"}`);
    expect(redact(JSON.stringify(JSON.stringify({ key: secret })))).not.toContain('quoted');
    expect(redact(`u=${encodeURIComponent(secret)}`)).toBe(`u=${REDACTED}`);
    expect(redact(Buffer.from(secret).toString('base64'))).toContain(REDACTED);
  });

  it('ignores values too short to be secrets', () => {
    expect(redact('abc def')).toBe('abc def');
    expect(createRedactor([])('anything')).toBe('anything');
  });
});

describe('createLogger', () => {
  it('redacts secret values and credential fields from every line', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ service: 'test', redact: createRedactor(['super-secret-value']), destination });
    logger.info({ env: 'X=super-secret-value', token: 'tok-123' }, 'started');
    logger.child({ taskId: 't1' }).warn(new Error('failed with super-secret-value'), 'boom');
    await new Promise((r) => setImmediate(r));
    const text = lines.join('');
    expect(lines).toHaveLength(2);
    expect(text).not.toContain('super-secret-value');
    expect(text).not.toContain('tok-123');
    expect(text).toContain('"taskId":"t1"');
  });
});
