import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MIN_PIECE_LENGTH, REDACTED, SecretMatcher, createLogger, createRedactor, secretForms } from '../src/index.js';

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

describe('createRedactor forms', () => {
  const secret = 'gh-s3cr3t+value/0123456789';
  const redact = createRedactor([secret]);
  const b64 = (text: string, url = false) => Buffer.from(text).toString(url ? 'base64url' : 'base64');

  it('hides base64 at every byte alignment, base64url and with or without padding', () => {
    for (const prefix of ['', 'x', 'xy', 'user:', 'ab:']) {
      for (const url of [false, true]) {
        const encoded = b64(prefix + secret, url);
        for (const text of [encoded, encoded.replace(/=+$/, ''), `${encoded} and more ${encoded}`]) {
          const out = redact(text);
          expect(out, `${prefix} ${url}`).toContain(REDACTED);
          // only the prefix's characters, the one mixing in its bits and the last partial one are left
          const left = out.split(/\[REDACTED\]| and more /).map((part) => part.replace(/=+$/, ''));
          for (const part of left) expect(part.length, out).toBeLessThanOrEqual(Math.ceil((prefix.length * 8) / 6) + 1);
        }
      }
    }
  });

  it('hides a Basic authorization header', () => {
    const header = `Authorization: Basic ${b64(`deploy:${secret}`)}`;
    const out = redact(header);
    expect(out).toMatch(/^Authorization: Basic ZGVwbG95.{0,2}\[REDACTED\].{0,3}$/);
    expect(Buffer.from(out.split(' ')[2] ?? '', 'base64').toString('latin1')).not.toContain(secret.slice(0, 4));
  });

  it('hides hex in lower and upper case, URL-encoded (either case of escapes) and JSON-escaped forms', () => {
    const hex = Buffer.from(secret).toString('hex');
    expect(redact(`hex ${hex}.`)).toBe(`hex ${REDACTED}.`);
    expect(redact(`HEX ${hex.toUpperCase()}.`)).toBe(`HEX ${REDACTED}.`);
    expect(redact(`u=${encodeURIComponent(secret)}&`)).toBe(`u=${REDACTED}&`);
    expect(redact(`u=${encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase())}&`)).toBe(`u=${REDACTED}&`);
    expect(redact(JSON.stringify({ k: secret }))).toBe(`{"k":"${REDACTED}"}`);
  });

  it('hides a secret cut in two by a line break inside one text, both pieces', () => {
    for (const at of [MIN_PIECE_LENGTH, 10, secret.length - MIN_PIECE_LENGTH]) {
      const [head, rest] = [secret.slice(0, at), secret.slice(at)];
      expect(redact(`a ${head}\n${rest} b`)).toBe(`a ${REDACTED}\n${REDACTED} b`);
      expect(redact(`a ${head}\r\n${rest} b`)).toBe(`a ${REDACTED}\r\n${REDACTED} b`);
      // the `\n` escape of a JSON string
      expect(redact(JSON.stringify({ text: `a ${head}\n${rest} b` }))).toBe(`{"text":"a ${REDACTED}\\n${REDACTED} b"}`);
    }
    const hex = Buffer.from(secret).toString('hex');
    expect(redact(`${hex.slice(0, 20)}\n${hex.slice(20)}`)).toBe(`${REDACTED}\n${REDACTED}`);
  });

  it('leaves text alone when the pieces are too short or do not make the whole secret', () => {
    const short = secret.slice(0, MIN_PIECE_LENGTH - 1);
    expect(redact(`${short}\n${secret.slice(short.length)}`)).toBe(`${short}\n${secret.slice(short.length)}`);
    expect(redact(`${secret.slice(0, 10)}\n${secret.slice(11)}`)).toBe(`${secret.slice(0, 10)}\n${secret.slice(11)}`);
    expect(redact(`${secret.slice(0, 10)}\nsomething else`)).toBe(`${secret.slice(0, 10)}\nsomething else`);
  });

  it('keeps values short of the minimum and short derived forms out', () => {
    expect(secretForms('abcde')).toEqual([]);
    // six characters: found as written, but not by the short middles of its shifted base64
    const six = createRedactor(['Zm9vYm']);
    expect(six('see Zm9vYm here')).toBe(`see ${REDACTED} here`);
    expect(secretForms('Zm9vYm').every((form) => form === 'Zm9vYm' || form.length >= 8)).toBe(true);
    expect(six('ordinary text: foobar, base64 Zm9vYmFy')).toBe(`ordinary text: foobar, base64 ${REDACTED}Fy`);
  });

  it('finds the lines of a PEM key one by one', () => {
    const body = ['MIIEpAIBAAKCAQEAx1m2n3b4v5c6x7z8a9s0d1f2g3h4j5k6l7', 'qwertyuiopasdfghjklzxcvbnm0123456789QWERTYUIOPASDF'];
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${body.join('\n')}\n-----END RSA PRIVATE KEY-----\n`;
    const pemRedact = createRedactor([pem]);
    expect(pemRedact(`line: ${body[1]}`)).toBe(`line: ${REDACTED}`);
    expect(pemRedact('-----BEGIN RSA PRIVATE KEY-----')).toBe('-----BEGIN RSA PRIVATE KEY-----');
  });
});

describe('SecretMatcher across lines', () => {
  const secret = 'tok-Abc123Def456Ghi789';
  const matcher = new SecretMatcher([secret]);

  it('holds a line whose end may start a secret and redacts both pieces once the next line completes it', () => {
    const first = `echo ${secret.slice(0, 8)}`;
    expect(matcher.continues(first)).toBe(true);
    expect(matcher.across(first, `${secret.slice(8)} done`)).toEqual([`echo ${REDACTED}`, `${REDACTED} done`]);
    expect(matcher.across(`${first}\r`, secret.slice(8))).toEqual([`echo ${REDACTED}\r`, REDACTED]);
    const b64 = Buffer.from(`x${secret}`).toString('base64');
    const [a, b] = matcher.across(b64.slice(0, 12), b64.slice(12));
    expect(`${a}|${b}`).toMatch(/^eH.?\[REDACTED\]\|\[REDACTED\].{0,3}$/);
  });

  it('does not hold or change ordinary lines', () => {
    expect(matcher.continues('an ordinary line')).toBe(false);
    expect(matcher.continues(`echo ${secret.slice(0, 3)}`)).toBe(false);
    expect(matcher.across(`echo ${secret.slice(0, 8)}`, 'something else')).toEqual([`echo ${secret.slice(0, 8)}`, 'something else']);
    expect(new SecretMatcher([]).continues('anything')).toBe(false);
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
