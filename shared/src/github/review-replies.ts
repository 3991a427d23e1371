/**
 * How an agent answers the inline comments of a review that requested changes: the prompt of the
 * follow-up asks for one line per comment it addressed, `[reply <comment id>] <answer>`, at the
 * end of its final message. The agent is untrusted: only ids of the review's own comments are
 * taken, each once, each answer cut to `REVIEW_REPLY_MAX_CHARS`.
 */

/** Longest answer posted as a reply. */
export const REVIEW_REPLY_MAX_CHARS = 1000;

const REPLY_LINE = /^[ \t]*\[reply[ \t]+(\d{1,15})\][ \t]*(.*)$/;

/** The instructions the prompt of a change-request follow-up ends with. */
export function reviewReplyInstructions(): string {
  return [
    'When you are done, end your final message with one line for each inline comment you addressed,',
    'in the form `[reply <comment id>] <what you changed, in one or two sentences>`, for example:',
    '[reply 1234] Renamed the variable and added the missing test.',
  ].join('\n');
}

export interface ReviewReplies {
  /** Answer per comment id, in the order the agent gave them. */
  replies: Map<number, string>;
  /** The final message without the reply lines. */
  summary: string;
}

/** The replies in an agent's final message to the comments `allowed`, and the rest of the message. */
export function parseReviewReplies(message: string, allowed: Iterable<number>): ReviewReplies {
  const ids = new Set(allowed);
  const replies = new Map<number, string>();
  const rest: string[] = [];
  for (const line of message.split(/\r?\n/)) {
    const match = REPLY_LINE.exec(line);
    if (!match) {
      rest.push(line);
      continue;
    }
    const id = Number(match[1]);
    const text = (match[2] ?? '').trim();
    if (ids.has(id) && !replies.has(id) && text.length > 0) replies.set(id, text.length > REVIEW_REPLY_MAX_CHARS ? `${text.slice(0, REVIEW_REPLY_MAX_CHARS - 1)}…` : text);
  }
  return { replies, summary: rest.join('\n').trim() };
}
