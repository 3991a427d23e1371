import type { AgentEventInput } from '@agentq/shared';
import type { TaskScript } from './fake-api.js';

const start: AgentEventInput[] = [
  { kind: 'task.state', state: 'queued' },
  { kind: 'task.state', state: 'starting', from: 'queued' },
  { kind: 'step', step: 'sandbox' },
  { kind: 'task.state', state: 'running', from: 'starting' },
  { kind: 'step', step: 'clone' },
  { kind: 'git', action: 'clone', ok: true, baseCommit: '0f1e2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4' },
  { kind: 'step', step: 'agent' },
  { kind: 'agent.init', harness: 'demo', cwd: '/sandbox/work' },
  { kind: 'agent.message', text: "I'll add a CONTRIBUTING.md\nthat explains how to send changes." },
  { kind: 'agent.tool_call', id: 't1', name: 'Write', input: { file_path: '/sandbox/work/CONTRIBUTING.md', content: '# Contributing\n' } },
  { kind: 'agent.tool_result', id: 't1', ok: true, output: 'File created' },
  { kind: 'agent.tool_call', id: 't2', name: 'Bash', input: { command: 'git status --short' } },
  { kind: 'agent.tool_result', id: 't2', ok: true, output: '?? CONTRIBUTING.md' },
];

export function succeededScript(): TaskScript {
  return {
    events: [
      ...start,
      { kind: 'agent.result', success: true, turns: 3, costUsd: 0.0123, durationMs: 4200, summary: 'Added CONTRIBUTING.md' },
      { kind: 'step', step: 'commit' },
      { kind: 'git', action: 'commit', ok: true, commit: '1234567890abcdef1234567890abcdef12345678', diffStat: { files: 1, insertions: 12, deletions: 0 } },
      { kind: 'step', step: 'push' },
      { kind: 'git', action: 'push', ok: true, branch: 'agentq/abcd1234-add-a-contributing-md' },
      { kind: 'task.state', state: 'publishing', from: 'running' },
      { kind: 'task.state', state: 'succeeded', from: 'publishing' },
    ],
    final: {
      branch: 'agentq/abcd1234-add-a-contributing-md',
      commit: '1234567890abcdef1234567890abcdef12345678',
      diffStat: { files: 1, insertions: 12, deletions: 0 },
      turns: 3,
      costUsd: 0.0123,
      durationMs: 4200,
      summary: 'Added CONTRIBUTING.md',
      startedAt: new Date(Date.now() + 1500).toISOString(),
      finishedAt: new Date(Date.now() + 30_000).toISOString(),
    },
  };
}

export function failedScript(): TaskScript {
  const error = { code: 'DISPATCH_AGENT_FAILED', message: 'the agent exited with code 1' };
  return {
    events: [
      ...start,
      { kind: 'agent.tool_result', ok: false, output: 'npm ERR! missing script: test\nmore' },
      { kind: 'agent.result', success: false, turns: 2 },
      { kind: 'task.state', state: 'failed', from: 'running', error },
    ],
    final: { error, turns: 2 },
  };
}

export function canceledScript(): TaskScript {
  return {
    events: [...start, { kind: 'task.state', state: 'canceled', from: 'running' }],
    final: { cancelRequested: true },
  };
}

export function timedOutScript(): TaskScript {
  const error = { code: 'DISPATCH_TIMEOUT', message: 'the task ran longer than 60s' };
  return {
    events: [...start, { kind: 'task.state', state: 'timed_out', from: 'running', error }],
    final: { error },
  };
}
