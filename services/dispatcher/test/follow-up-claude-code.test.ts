import { existsSync, realpathSync } from 'node:fs';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DEMO_REPO, git, isFinalState, type TaskRecord } from '@agentq/shared';
import { makeTempDir, startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDispatcherFixture, type DispatcherFixture } from './support/dispatcher-fixture.js';
import { FakeAnthropic, text, toolUse } from '@agentq/shared/testing';

const CLAUDE_BIN = resolve(import.meta.dirname, '../../../node_modules/.bin/claude');
const API_KEY = 'sk-ant-follow-up-8e41c0b7a25d';
const FIRST_PROMPT = 'add a CONTRIBUTING.md for newcomers';
const FOLLOW_UP_PROMPT = 'now add a SECURITY.md too';
const FIRST_ANSWER = 'Added CONTRIBUTING.md.';

/**
 * The claude CLI behind a script that records each run's arguments in its sandbox's HOME (the one
 * place an isolated agent writes that outlives the run), one file per run.
 */
async function recordingClaude(dir: string): Promise<{ bin: string; runs(dataDir: string): Promise<string[][]> }> {
  const bin = join(dir, 'claude');
  await writeFile(bin, `#!/bin/bash\nprintf '%s\\n' "$@" > "$HOME/claude-argv-$$"\nexec ${JSON.stringify(CLAUDE_BIN)} "$@"\n`);
  await chmod(bin, 0o755);
  return {
    bin,
    runs: async (dataDir) => {
      const sandboxes = join(dataDir, 'sandboxes');
      const files: string[] = [];
      for (const id of await readdir(sandboxes)) {
        const home = join(sandboxes, id, 'home');
        for (const f of await readdir(home).catch(() => [] as string[])) if (f.startsWith('claude-argv-')) files.push(join(home, f));
      }
      return Promise.all(files.map(async (f) => (await readFile(f, 'utf8')).split('\n').filter((l) => l.length > 0)));
    },
  };
}

describe('follow-up runs with the real Claude Code CLI', () => {
  let redis: TestRedis;
  let fake: FakeAnthropic;
  let tmp: { path: string; remove: () => Promise<void> };
  let fx: DispatcherFixture | undefined;

  beforeAll(async () => {
    expect(existsSync(CLAUDE_BIN), `Claude Code CLI at ${CLAUDE_BIN}`).toBe(true);
    redis = await startTestRedis();
    fake = await FakeAnthropic.start({ prefix: '/llm/anthropic' });
  });
  afterAll(async () => {
    await fake?.close();
    await redis?.stop();
  });
  beforeEach(async () => {
    tmp = await makeTempDir('agentq-cc-follow-');
    fake.requests.length = 0;
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
    await tmp.remove();
  });

  async function finalRecord(id: string): Promise<TaskRecord> {
    const f = fx as DispatcherFixture;
    try {
      return await f.waitFinal(id, 30_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}; record: ${JSON.stringify(await f.store.get(id))}; logs:\n${f.logs.slice(-20).join('')}`, {
        cause: err,
      });
    }
  }

  it('resumes the parent session with its files carried over, on the parent branch', async () => {
    const claude = await recordingClaude(tmp.path);
    // turn i answers a conversation holding i tool results; the follow-up's conversation starts with the parent's one
    fake.script([
      ({ cwd }) => ({
        content: [text("I'll add CONTRIBUTING.md."), toolUse('Write', { file_path: join(cwd ?? '/nonexistent', 'CONTRIBUTING.md'), content: 'Welcome.\n' })],
      }),
      ({ body, cwd }) =>
        JSON.stringify(body).includes(FOLLOW_UP_PROMPT)
          ? { content: [toolUse('Write', { file_path: join(cwd ?? '/nonexistent', 'SECURITY.md'), content: 'Report issues privately.\n' })] }
          : { content: [text(FIRST_ANSWER)] },
      { content: [text('Added SECURITY.md.')] },
    ]);
    fx = await startDispatcherFixture(
      redis.url,
      {
        AGENTQ_HARNESS: 'claude-code',
        AGENTQ_CLAUDE_BIN: claude.bin,
        // the gateway serves Anthropic at <url>/llm/anthropic: the fake stands in for it
        ANTHROPIC_API_KEY: API_KEY,
        AGENTQ_GATEWAY_URL: fake.url,
        // the recording script runs the real CLI, which an isolated agent must be shown
        AGENTQ_LOCAL_READ_PATHS: `${CLAUDE_BIN},${realpathSync(CLAUDE_BIN)}`,
      },
      { cancelPollMs: 200, waitRecheckMs: 150 },
    );
    const first = await fx.submit({ repo: DEMO_REPO, prompt: FIRST_PROMPT });
    const followUp = await fx.submit({ repo: DEMO_REPO, prompt: FOLLOW_UP_PROMPT }, { followUpOf: first, after: first });

    const one = await finalRecord(first);
    expect(one.state, JSON.stringify(one.error)).toBe('succeeded');
    expect(one.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const two = await finalRecord(followUp);
    expect(isFinalState(two.state)).toBe(true);
    expect(two.state, JSON.stringify(two.error)).toBe('succeeded');
    expect(Date.parse(two.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(one.finishedAt ?? ''));

    // the CLI was asked to resume the parent's session, and only the follow-up was
    const runs = await claude.runs(fx.dataDir);
    expect(runs).toHaveLength(2);
    const resumed = runs.filter((argv) => argv.includes(`--resume=${one.sessionId}`));
    expect(resumed).toHaveLength(1);
    expect(resumed[0]?.at(-1)).toBe(FOLLOW_UP_PROMPT);
    expect(runs.find((argv) => argv.at(-1) === FIRST_PROMPT)?.some((a) => a.startsWith('--resume'))).toBe(false);

    // the model saw the parent's conversation in the follow-up's first request: the session files came along
    const followUpRequests = fake.conversationRequests().filter((r) => JSON.stringify(r.body).includes(FOLLOW_UP_PROMPT));
    expect(followUpRequests.length).toBeGreaterThan(0);
    const firstRequest = JSON.stringify(followUpRequests[0]?.body);
    expect(firstRequest).toContain(FIRST_PROMPT);
    expect(firstRequest).toContain(FIRST_ANSWER);
    // the working tree moved (another sandbox): Claude Code says so when it resumes
    const sandboxes = join(fx.dataDir, 'sandboxes');
    expect(firstRequest).toContain(`Primary working directory: ${join(sandboxes, followUp, 'repo')} (was ${join(sandboxes, first, 'repo')})`);
    expect(two.sessionId).toBe(one.sessionId);

    // one branch: the follow-up's commit on top of the parent's
    expect(two.branch).toBe(one.branch);
    expect(two.baseCommit).toBe(one.commit);
    const bare = fx.forge.path(DEMO_REPO);
    expect((await git(['rev-parse', `${two.commit}^`], { cwd: bare })).stdout.trim()).toBe(one.commit);
    expect(await fx.forge.branchCommit(DEMO_REPO, two.branch as string)).toBe(two.commit);
    expect((await git(['show', `${two.branch}:CONTRIBUTING.md`], { cwd: bare })).stdout).toBe('Welcome.\n');
    expect((await git(['show', `${two.branch}:SECURITY.md`], { cwd: bare })).stdout).toBe('Report issues privately.\n');

    // the session's files are in the follow-up's sandbox home too, for the next follow-up
    const projects = join(fx.dataDir, 'sandboxes', followUp, 'home', '.claude', 'projects');
    const sessionFiles = (await readdir(projects, { recursive: true })).filter((f) => f.endsWith(`${one.sessionId}.jsonl`));
    expect(sessionFiles).toHaveLength(1);
  });
});
