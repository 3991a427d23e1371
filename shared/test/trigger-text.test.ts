import { describe, expect, it } from 'vitest';
import { triggerLinkText, triggerTag, triggerText, type TaskTrigger } from '../src/index.js';

describe('the words for a trigger', () => {
  const check = (name: string) => ({ name, conclusion: 'failure', url: `https://github.com/o/r/runs/${name}` });

  it('names up to five failing checks and counts the rest', () => {
    const trigger: TaskTrigger = { kind: 'ci_failure', pullNumber: 1, headSha: 'a', url: 'u', checks: ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map(check), attempt: 2 };
    expect(triggerText(trigger)).toBe('fixing failing checks: a, b, c, d, e and 2 more (attempt 2)');
    expect(triggerText({ ...trigger, checks: [] })).toBe('fixing failing checks: unnamed checks (attempt 2)');
    expect(triggerTag(trigger)).toBe('ci fix 2');
    expect(triggerLinkText(trigger)).toBe('the failing check');
  });

  it('names the reviewer', () => {
    const trigger: TaskTrigger = { kind: 'changes_requested', pullNumber: 1, reviewId: 2, url: 'u', reviewer: 'alice', comments: [], attempt: 1 };
    expect(triggerText(trigger)).toBe('answering the review of @alice (attempt 1)');
    expect(triggerTag(trigger)).toBe('review 1');
    expect(triggerLinkText(trigger)).toBe('the review');
  });
});
