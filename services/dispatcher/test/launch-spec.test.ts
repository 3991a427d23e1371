import { loadConfig, newTaskId, type TaskRecord } from '@agentq/shared';
import { describe, expect, it } from 'vitest';
import type { GitHubAccess } from '../src/github/github-run.js';
import { claudeCodeHarness } from '../src/harnesses/claude-code.js';
import { demoHarness } from '../src/harnesses/demo.js';
import { SANDBOX_TIMEOUT_MARGIN_SEC, launchSpec, type LaunchInput } from '../src/run/launch-spec.js';
import { GIT_TOKEN_FILE, gitCredentialEnv } from '../src/run/run-script.js';
import { DEPLOYMENT_TAG, TASK_TAG } from '../src/sandbox-tags.js';

const config = loadConfig({
  AGENTQ_REDIS_PREFIX: 'spec-test',
  AGENTQ_DATA_DIR: '/tmp/agentq-spec-test',
  AGENTQ_HARNESS: 'demo',
  AGENTQ_TASK_TIMEOUT_SEC: '900',
  AGENTQ_GIT_AUTHOR_NAME: 'agentq',
  AGENTQ_GIT_AUTHOR_EMAIL: 'agentq@localhost',
});

function task(fields: Partial<TaskRecord> = {}): TaskRecord {
  const now = new Date().toISOString();
  return { id: newTaskId(), state: 'starting', repo: 'demo/hello', prompt: 'add a CONTRIBUTING.md', team: 'default', source: 'api', createdAt: now, updatedAt: now, ...fields };
}

function input(fields: Partial<LaunchInput> = {}): LaunchInput {
  return {
    task: task(),
    harness: demoHarness,
    plan: { branch: 'agentq/abc-add', continueBranch: false, baseRef: 'main' },
    config,
    localUrl: 'file:///data/repos/demo/hello.git',
    ...fields,
  };
}

describe('launch spec', () => {
  it('runs the harness inside the run script, tagged for the task and the deployment, within the time limit and a margin', () => {
    const given = input();
    const spec = launchSpec(given, {});
    expect(spec.taskId).toBe(given.task.id);
    expect(spec.command.slice(0, 2)).toEqual(['bash', '-c']);
    expect(spec.command.slice(-2)).toEqual(['--', 'add a CONTRIBUTING.md']);
    expect(spec.tags).toEqual({ [TASK_TAG]: given.task.id, [DEPLOYMENT_TAG]: 'spec-test' });
    expect(spec.env).toMatchObject({
      AGENTQ_TASK_ID: given.task.id,
      AGENTQ_REPO_URL: 'file:///data/repos/demo/hello.git',
      AGENTQ_BRANCH: 'agentq/abc-add',
      AGENTQ_BASE_REF: 'main',
      AGENTQ_GIT_AUTHOR_NAME: 'agentq',
    });
    expect(spec.timeoutMs).toBe((900 + SANDBOX_TIMEOUT_MARGIN_SEC) * 1000);
    expect(spec.files).toBeUndefined();
    expect(spec.inherit).toBeUndefined();
    // the task's own limit wins over the service's
    expect(launchSpec(input({ task: task({ limits: { timeoutSec: 60 } }) }), {}).timeoutMs).toBe((60 + SANDBOX_TIMEOUT_MARGIN_SEC) * 1000);
  });

  it('resumes the session it is given, from the earlier sandbox', () => {
    const inherit = { sandboxId: 'sandbox-1', homePaths: demoHarness.sessionFiles };
    const spec = launchSpec(input({ plan: { branch: 'agentq/parent', continueBranch: true, baseRef: 'main' } }), { resumeSessionId: 'session-1', inherit });
    expect(spec.command).toContain('--resume=session-1');
    expect(spec.inherit).toEqual(inherit);
    expect(spec.env.AGENTQ_CONTINUE_BRANCH).toBe('1');
    expect(spec.env.AGENTQ_BASE_REF).toBeUndefined();
  });

  it('gives a GitHub task its clone URL, bot author and token file, the token nowhere in its environment', () => {
    const access: GitHubAccess = {
      cloneUrl: 'http://127.0.0.1:9/octo/widgets.git',
      author: { name: 'agentq[bot]', email: '1+agentq[bot]@users.noreply.github.com' },
      coAuthors: ['octocat <583231+octocat@users.noreply.github.com>'],
      env: gitCredentialEnv(GIT_TOKEN_FILE),
      files: { [GIT_TOKEN_FILE]: 'ghs_secret-token' },
    };
    const spec = launchSpec(input({ access }), {});
    expect(spec.files).toEqual({ [GIT_TOKEN_FILE]: 'ghs_secret-token' });
    expect(spec.env).toMatchObject({ AGENTQ_REPO_URL: access.cloneUrl, AGENTQ_GIT_AUTHOR_NAME: 'agentq[bot]', AGENTQ_GIT_TOKEN_FILE: GIT_TOKEN_FILE });
    expect(spec.env.AGENTQ_COMMIT_MESSAGE).toContain('Co-authored-by: octocat');
    expect(JSON.stringify([spec.env, spec.command, spec.tags])).not.toContain('ghs_secret-token');
  });

  it('takes the image, the allowed domains and the setup commands from the repository\'s settings', () => {
    const spec = launchSpec(input({ settings: { image: 'ghcr.io/acme/sandbox:2', allowedDomains: ['registry.npmjs.org'], setup: ['npm ci', 'npm run build'] } }), {});
    expect(spec.image).toBe('ghcr.io/acme/sandbox:2');
    expect(spec.allowedDomains).toEqual(['registry.npmjs.org']);
    expect(spec.env).toMatchObject({ AGENTQ_SETUP_COUNT: '2', AGENTQ_SETUP_0: 'npm ci', AGENTQ_SETUP_1: 'npm run build' });
  });

  it('gives the agent the model gateway: its URL as a variable, the task token as a secret', () => {
    const token = `aqg_${'t'.repeat(43)}`;
    const gateway = { url: 'http://gateway.test', token };
    const spec = launchSpec(input({ harness: claudeCodeHarness, gateway }), {});
    expect(spec.env.ANTHROPIC_BASE_URL).toBe('http://gateway.test/llm/anthropic');
    expect(spec.secrets.ANTHROPIC_API_KEY).toBe(token);
    expect(JSON.stringify({ command: spec.command, env: spec.env })).not.toContain(token);
    expect(spec.env.OPENAI_BASE_URL).toBeUndefined();
    // the demo agent (like a command) gets both routes of the gateway
    const both = launchSpec(input({ gateway }), {});
    expect(both.env).toMatchObject({ ANTHROPIC_BASE_URL: 'http://gateway.test/llm/anthropic', OPENAI_BASE_URL: 'http://gateway.test/llm/openai' });
    expect(both.secrets).toMatchObject({ ANTHROPIC_API_KEY: token, AGENTQ_MODEL_TOKEN: token });
    // without a gateway token, no model credential at all
    const none = launchSpec(input({ harness: claudeCodeHarness }), {});
    expect(Object.keys(none.secrets)).toEqual([]);
    expect(none.env.ANTHROPIC_BASE_URL).toBeUndefined();
  });
});
