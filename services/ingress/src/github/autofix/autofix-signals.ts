import type { z } from 'zod';
import { fieldProblems } from '../../http/field-problems.js';
import type { FieldProblem } from '../../http/ingress-errors.js';
import {
  checkRunCompletedSchema,
  checkSuiteCompletedSchema,
  issueCommentCreatedSchema,
  pullRequestEventSchema,
  reviewCommentCreatedSchema,
  reviewSubmittedSchema,
  workflowRunCompletedSchema,
} from '../webhook-payloads.js';
import { isBot } from '../webhook-triggers.js';

/** What a delivery means for the automatic follow-ups of pull requests. */
export type AutofixSignal =
  /** The checks of a commit concluded (one of them, a suite, or a workflow run): the pull requests it heads may need a fix. */
  | { kind: 'ci'; repo: string; event: string; headSha: string; pulls: number[] }
  /** A review requested changes. */
  | { kind: 'review'; repo: string; event: string; pullNumber: number; reviewId: number; body: string; url: string; reviewer: string }
  /** A person pushed to the pull request or commented on it: the attempts start again. */
  | { kind: 'human'; repo: string; event: string; pullNumber: number }
  /** The pull request was closed or labeled hands-off: its automatic follow-ups end. */
  | { kind: 'stop'; repo: string; event: string; pullNumber: number; reason: 'closed' | 'labeled hands-off' };

export type SignalResult = { signal: AutofixSignal } | { ignored: string } | { malformed: FieldProblem[] } | { none: true };

/** The events whose only meaning is a signal (comments are `/agent` triggers as well). */
const SIGNAL_EVENTS = new Set(['check_suite', 'check_run', 'workflow_run', 'pull_request_review', 'pull_request']);

/** Is this event read for signals only (not for `/agent` triggers)? */
export function isSignalEvent(event: string): boolean {
  return SIGNAL_EVENTS.has(event);
}

/**
 * The signal of a verified delivery: `check_suite`/`check_run`/`workflow_run` `completed`,
 * `pull_request_review.submitted` requesting changes (by a person), `pull_request.synchronize`
 * by a person, a person's comment on a pull request, `pull_request.labeled` with the hands-off
 * label, `pull_request.closed`. `none` for the other events (comments on issues included).
 */
export function autofixSignalOf(event: string, payload: Record<string, unknown>, options: { noAutofixLabel: string }): SignalResult {
  const action = typeof payload.action === 'string' ? payload.action : undefined;
  const name = action ? `${event}.${action}` : event;
  switch (name) {
    case 'check_suite.completed':
    case 'check_run.completed':
    case 'workflow_run.completed': {
      const schema = event === 'check_suite' ? checkSuiteCompletedSchema : event === 'check_run' ? checkRunCompletedSchema : workflowRunCompletedSchema;
      const parsed = schema.safeParse(payload);
      if (!parsed.success) return malformed(parsed.error);
      const p = parsed.data as { repository: { full_name: string } } & Record<string, { head_sha: string; pull_requests: { number: number }[] }>;
      const subject = p[event];
      if (!subject) return { ignored: 'no check in the delivery' };
      const pulls = [...new Set(subject.pull_requests.map((pr) => pr.number))];
      if (pulls.length === 0) return { ignored: 'no pull request of this repository has this commit as its head' };
      return { signal: { kind: 'ci', repo: p.repository.full_name, event: name, headSha: subject.head_sha, pulls } };
    }
    case 'pull_request_review.submitted': {
      const parsed = reviewSubmittedSchema.safeParse(payload);
      if (!parsed.success) return malformed(parsed.error);
      const p = parsed.data;
      if (p.review.state.toLowerCase() !== 'changes_requested') return { ignored: 'the review does not request changes' };
      const reviewer = p.review.user;
      if (!reviewer || isBot(reviewer, undefined)) return { ignored: 'review by a bot' };
      return {
        signal: {
          kind: 'review',
          repo: p.repository.full_name,
          event: name,
          pullNumber: p.pull_request.number,
          reviewId: p.review.id,
          body: p.review.body ?? '',
          url: p.review.html_url,
          reviewer: reviewer.login,
        },
      };
    }
    case 'pull_request.synchronize':
    case 'pull_request.labeled':
    case 'pull_request.closed': {
      const parsed = pullRequestEventSchema.safeParse(payload);
      if (!parsed.success) return malformed(parsed.error);
      const p = parsed.data;
      const base = { repo: p.repository.full_name, event: name, pullNumber: p.pull_request.number };
      if (action === 'closed') return { signal: { ...base, kind: 'stop', reason: 'closed' } };
      if (action === 'labeled') {
        if (p.label?.name !== options.noAutofixLabel) return { ignored: 'not the hands-off label' };
        return { signal: { ...base, kind: 'stop', reason: 'labeled hands-off' } };
      }
      if (isBot(p.sender, undefined)) return { ignored: 'pushed by a bot' };
      return { signal: { ...base, kind: 'human' } };
    }
    case 'issue_comment.created': {
      const parsed = issueCommentCreatedSchema.safeParse(payload);
      if (!parsed.success) return malformed(parsed.error);
      const p = parsed.data;
      if (!p.issue.pull_request || isBot(p.comment.user, p.comment.performed_via_github_app)) return { none: true };
      return { signal: { kind: 'human', repo: p.repository.full_name, event: name, pullNumber: p.issue.number } };
    }
    case 'pull_request_review_comment.created': {
      const parsed = reviewCommentCreatedSchema.safeParse(payload);
      if (!parsed.success) return malformed(parsed.error);
      const p = parsed.data;
      if (isBot(p.comment.user, p.comment.performed_via_github_app)) return { none: true };
      return { signal: { kind: 'human', repo: p.repository.full_name, event: name, pullNumber: p.pull_request.number } };
    }
    default:
      return isSignalEvent(event) ? { ignored: `event ${name} is not handled` } : { none: true };
  }
}

function malformed(error: z.ZodError): SignalResult {
  return { malformed: fieldProblems(error, 'payload') };
}
