import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEMO_REPO, REDACTED } from '@agentq/shared';
import { makeTempDir, startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StreamJsonParser } from '../src/harnesses/stream-json-parser.js';
import { OutputReader } from '../src/run/output-reader.js';
import { RuntimeSecrets } from '../src/runtime-secrets.js';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';
import { dumpRedis } from './support/redis-dump.js';

/** A sandbox secret (26 characters; its base64 forms hold `+` and `/`). */
const SECRET = 'lk-9f3Q+a/Zk27-WbXvPq0rTy5';

/**
 * An agent printing the secret it was given in the forms a leak takes: plain, in a Basic header,
 * base64 at the other byte alignments (base64url without padding too), hex in both cases, cut in
 * two over consecutive lines, and cut by a `\n` inside one JSON line.
 */
const LEAKING_AGENT = `#!/usr/bin/env bash
set -euo pipefail
S="$LEAKY_KEY"
echo "plain: $S"
echo "Authorization: Basic $(printf 'user:%s' "$S" | base64 -w0)"
echo "x: $(printf 'x%s' "$S" | base64 -w0)"
echo "xy: $(printf 'xy%s' "$S" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
echo "hex: $(printf '%s' "$S" | od -An -tx1 | tr -d ' \\n')"
echo "HEX: $(printf '%s' "$S" | od -An -tx1 | tr -d ' \\n' | tr a-f A-F)"
echo "split: \${S:0:12}"
echo "\${S:12} and on"
printf '{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"%s\\\\n%s"}]}}\\n' "\${S:0:9}" "\${S:9}"
echo "the end"
echo '{"type":"result","subtype":"success","is_error":false,"num_turns":1,"total_cost_usd":0.01,"duration_ms":5,"result":"done","session_id":"s-1"}'
`;

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Text that, found anywhere, gives the secret (or most of it) away. */
const LEAKS = [
  SECRET,
  SECRET.slice(0, 12),
  SECRET.slice(12),
  SECRET.slice(0, 9),
  SECRET.slice(9),
  Buffer.from(SECRET).toString('hex'),
  Buffer.from(SECRET).toString('hex').toUpperCase(),
  b64(`user:${SECRET}`).slice(8, -4),
  b64(`x${SECRET}`).slice(4, -4),
  Buffer.from(`xy${SECRET}`).toString('base64url').slice(4, -4),
];

describe('redaction of what a sandbox prints', () => {
  let redis: TestRedis;
  let fx: DispatcherFixture | undefined;
  let tmp: { path: string; remove: () => Promise<void> } | undefined;

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
    await tmp?.remove();
    tmp = undefined;
  });

  it('hides a sandbox secret in every form and cut over two lines, in the events, the record and the logs', async () => {
    tmp = await makeTempDir('agentq-leaking-agent-');
    const path = join(tmp.path, 'agent.sh');
    await writeFile(path, LEAKING_AGENT, { mode: 0o755 });
    fx = await startDispatcherFixture(redis.url, {
      AGENTQ_HARNESS: 'command',
      AGENTQ_HARNESS_COMMAND: `bash '${path}'`,
      AGENTQ_SANDBOX_ENV: 'LEAKY_KEY',
      LEAKY_KEY: SECRET,
    });
    const id = await fx.submit({ repo: DEMO_REPO, prompt: 'print the key' });
    const task = await fx.waitFinal(id);
    expect(task.state, JSON.stringify(task.error)).toBe('succeeded');

    const events = await fx.events(id);
    const texts = events.flatMap((e) => (e.kind === 'log' && e.stream === 'output' ? [e.text] : []));
    const message = events.find((e) => e.kind === 'agent.message');
    // every line is there, with the secret's part replaced
    expect(texts).toEqual([
      `plain: ${REDACTED}`,
      expect.stringMatching(/^Authorization: Basic dXNlcj.\[REDACTED\].{0,3}$/),
      expect.stringMatching(/^x: eG\[REDACTED\].{0,3}$/),
      expect.stringMatching(/^xy: eHl\[REDACTED\].?$/),
      `hex: ${REDACTED}`,
      `HEX: ${REDACTED}`,
      `split: ${REDACTED}`,
      `${REDACTED} and on`,
      'the end',
    ]);
    expect(message).toMatchObject({ text: `${REDACTED}\n${REDACTED}` });

    const stored = `${await dumpRedis(fx.redis)}\n${fx.logs.join('')}`;
    for (const leak of LEAKS) expect(stored, leak).not.toContain(leak);
  });
});

describe('OutputReader and a secret cut over two lines', () => {
  const texts = (events: { kind: string; text?: string; line?: number }[]) => events.map((e) => `${e.line}:${e.text ?? e.kind}`);

  it('holds only a line whose end may start a secret, and gives its events with its own line number', () => {
    const secrets = new RuntimeSecrets([SECRET]);
    const reader = new OutputReader(new StreamJsonParser(), secrets, 'test');
    expect(texts(reader.read({ line: 1, text: 'ordinary' }))).toEqual(['1:ordinary']);
    expect(reader.read({ line: 2, text: `key ${SECRET.slice(0, 6)}` })).toEqual([]);
    expect(texts(reader.read({ line: 3, text: `${SECRET.slice(6)} rest` }))).toEqual([`2:key ${REDACTED}`, `3:${REDACTED} rest`]);
    // a held line that nothing completes comes out unchanged, at the next line or at the end
    expect(reader.read({ line: 4, text: `key ${SECRET.slice(0, 6)}` })).toEqual([]);
    expect(texts(reader.read({ line: 5, text: 'something else' }))).toEqual([`4:key ${SECRET.slice(0, 6)}`, '5:something else']);
    expect(reader.read({ line: 6, text: `key ${SECRET.slice(0, 6)}` })).toEqual([]);
    expect(texts(reader.finish())).toEqual([`6:key ${SECRET.slice(0, 6)}`]);
    expect(reader.finish()).toEqual([]);
  });

  it('redacts a token added while the run goes on, cut over lines too', () => {
    const secrets = new RuntimeSecrets([]);
    const token = 'ghs_16C7e42F292c6912E7710c838347Ae178B4a';
    secrets.add(token);
    const reader = new OutputReader(new StreamJsonParser(), secrets, 'test');
    reader.read({ line: 1, text: `https://x-access-token:${token.slice(0, 20)}` });
    expect(texts(reader.read({ line: 2, text: `${token.slice(20)}@github.com` }))).toEqual([`1:https://x-access-token:${REDACTED}`, `2:${REDACTED}@github.com`]);
    secrets.remove(token);
    expect(texts(reader.read({ line: 3, text: token }))).toEqual([`3:${token}`]);
  });

  it('keeps the RS of a marker line through redaction, also after a held line', () => {
    const reader = new OutputReader(new StreamJsonParser(), new RuntimeSecrets([SECRET]), 'test');
    const marker = (text: string) => reader.read({ line: 1, text })[0];
    expect(marker('\x1e{"agentq":{"step":"agent"}}')).toMatchObject({ kind: 'step', step: 'agent' });
    expect(reader.read({ line: 2, text: `key ${SECRET.slice(0, 6)}` })).toEqual([]);
    expect(reader.read({ line: 3, text: '\x1e{"agentq":{"agent":"exit","code":0}}' }).map((e) => e.kind)).toEqual(['log', 'log']);
    expect(reader.facts.agentExitCode).toBe(0);
    expect(reader.facts.lastStep).toBe('agent');
  });
});
