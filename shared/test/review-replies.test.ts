import { describe, expect, it } from 'vitest';
import { parseReviewReplies, REVIEW_REPLY_MAX_CHARS, reviewReplyInstructions } from '../src/index.js';

describe('review replies', () => {
  it('takes one answer per comment of the review, and leaves the rest as the summary', () => {
    const message = ['Fixed both points.', '', '[reply 11] Renamed it.', '[reply 12]  Added the test. ', '[reply 11] a second answer is ignored', '[reply 99] not a comment of this review', '[reply 13]'].join('\n');
    const { replies, summary } = parseReviewReplies(message, [11, 12, 13]);
    expect([...replies]).toEqual([
      [11, 'Renamed it.'],
      [12, 'Added the test.'],
    ]);
    expect(summary).toBe('Fixed both points.');
  });

  it('cuts long answers and shows the format it parses in its instructions', () => {
    const { replies } = parseReviewReplies(`[reply 5] ${'x'.repeat(REVIEW_REPLY_MAX_CHARS + 50)}`, [5]);
    expect(replies.get(5)).toHaveLength(REVIEW_REPLY_MAX_CHARS);
    const example = reviewReplyInstructions().split('\n').at(-1) ?? '';
    expect([...parseReviewReplies(example, [1234]).replies.keys()]).toEqual([1234]);
  });
});
