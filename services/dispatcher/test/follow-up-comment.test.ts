import { describe, expect, it } from 'vitest';
import type { TaskRecord, TaskTrigger } from '@agentq/shared';
import { followUpComment, reviewReply } from '../src/github/follow-up-comment.js';
import type { Outcome } from '../src/run/outcome.js';

const task = { id: '01m984yjxsbwj450f92nynq1e3', repo: 'octo/widgets', branch: 'agentq/x-fix' } as TaskRecord;
const viewerUrl = 'https://agentq.example.com/tasks/01m984yjxsbwj450f92nynq1e3?key=k';
const checks: TaskTrigger = {
  kind: 'ci_failure',
  pullNumber: 12,
  headSha: '1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d',
  url: 'https://github.com/octo/widgets/runs/1',
  checks: [
    { name: 'test [unit] *all*', conclusion: 'failure', url: 'https://github.com/octo/widgets/runs/1' },
    { name: 'deploy', conclusion: 'failure', url: 'javascript:alert(1)' },
    { name: 'lint', conclusion: 'failure', url: 'https://github.com/octo/widgets/runs/(3) x' },
  ],
  attempt: 3,
};

describe('the comment of an automatic follow-up', () => {
  it('makes check names inert, links only web pages, and says how a failed run ended', () => {
    const outcome: Outcome = { state: 'timed_out', update: { error: { code: 'DISPATCH_TIMEOUT', message: 'ran\nover 600 s' }, costUsd: 1.5, turns: 9 } };
    const body = followUpComment({ task, trigger: checks, outcome, summary: undefined, replied: 0, viewerUrl });
    expect(body).toContain('**agentq** · fixing failing checks: test \\[unit\\] \\*all\\*, deploy, lint (attempt 3)');
    expect(body).toContain('Failing checks on `1a2b3c4`: [test \\[unit\\] \\*all\\*](https://github.com/octo/widgets/runs/1) (failure), deploy (failure), [lint](https://github.com/octo/widgets/runs/%283%29%20x) (failure)');
    expect(body).not.toContain('javascript:');
    expect(body).toContain('_The agent left no summary._');
    expect(body).toContain('**Result:** timed out: `DISPATCH_TIMEOUT` ran over 600 s; nothing new on the branch');
    expect(body).toContain('**Cost:** $1.50 · **Turns:** 9');
    expect(body).toContain(`**Transcript:** [task ${task.id}](${viewerUrl})`);
  });

  it('cuts a long summary, and counts the answered comments of a review', () => {
    const review: TaskTrigger = { kind: 'changes_requested', pullNumber: 12, reviewId: 5, url: 'https://github.com/octo/widgets/pull/12#pullrequestreview-5', reviewer: 'alice', comments: [{ id: 1, path: 'a' }, { id: 2, path: 'b' }, { id: 3, path: 'c' }], attempt: 1 };
    const outcome: Outcome = { state: 'succeeded', update: { noChanges: true } };
    const body = followUpComment({ task, trigger: review, outcome, summary: 'x'.repeat(30_000), replied: 1, viewerUrl });
    expect(body).toContain('[The review](https://github.com/octo/widgets/pull/12#pullrequestreview-5) of @alice · replied to 1 of 3 inline comments');
    expect(body).toContain(`${'x'.repeat(20_000)}…`);
    expect(body).not.toContain('x'.repeat(20_001));
    expect(body).toContain('**Result:** no changes: nothing was pushed');
    expect(body).toContain('**Cost:** unknown · **Turns:** unknown');
  });

  it('ends a reply with the commit and the transcript link', () => {
    const outcome: Outcome = { state: 'succeeded', update: { commit: 'ffffeeeeddddccccbbbbaaaa9999888877776666' } };
    expect(reviewReply('Renamed it.', task, outcome, viewerUrl)).toBe(`Renamed it.\n\n<sub>agentq · \`ffffeee\` · [task ${task.id}](${viewerUrl})</sub>`);
  });
});
