import type { ReactionSubject } from '@agentq/shared';
import type { z } from 'zod';
import type { FieldProblem } from '../http/ingress-errors.js';
import { fieldProblems } from '../http/field-problems.js';
import { issueCommentCreatedSchema, issuesLabeledSchema, reviewCommentCreatedSchema } from './webhook-payloads.js';

/** A webhook delivery that asks agentq for work. */
export interface Trigger {
  /** `owner/name`. */
  repo: string;
  /** The issue or pull request it happened on. */
  issueNumber: number;
  isPullRequest: boolean;
  prompt: string;
  login: string;
  userId: number;
  /** The issue comment that asked (a review comment is not one). */
  commentId?: number;
  reactTo: ReactionSubject;
  /** Only a follow-up of the task that opened the pull request may come of it (review comments). */
  followUpOnly: boolean;
  event: string;
}

/** A trigger, a delivery that asks for nothing, or one of a handled event whose payload lacks what agentq reads. */
export type TriggerResult = { trigger: Trigger } | { ignored: string } | { malformed: FieldProblem[] };

/** A line starting with `/agent ` asks for work: the rest of the comment from there is the prompt. */
const COMMAND = /^[ \t]*\/agent[ \t]+(\S[^\n]*)$/m;

/** The prompt of a comment, or undefined when it does not address agentq. */
export function commandPrompt(body: string | null | undefined): string | undefined {
  if (!body) return undefined;
  const text = body.replace(/\r\n?/g, '\n');
  const match = COMMAND.exec(text);
  if (!match || match[1] === undefined) return undefined;
  const rest = text.slice(match.index + match[0].length);
  const prompt = `${match[1]}${rest}`.trim();
  return prompt.length > 0 ? prompt : undefined;
}

export interface Author {
  login: string;
  id: number;
  type?: string;
}

export function isBot(user: Author | null | undefined, viaApp: unknown): boolean {
  return !user || user.type === 'Bot' || user.login.endsWith('[bot]') || (viaApp !== null && viaApp !== undefined);
}

/**
 * What a verified delivery asks for: `issue_comment.created` with `/agent …` (on an issue or a
 * pull request), `issues.labeled` with the trigger label, `pull_request_review_comment.created`
 * with `/agent …`. Everything else, and anything a bot (agentq included) wrote, is ignored.
 */
export function triggerOf(event: string, payload: Record<string, unknown>, options: { triggerLabel: string }): TriggerResult {
  const action = typeof payload.action === 'string' ? payload.action : undefined;
  const name = action ? `${event}.${action}` : event;
  switch (name) {
    case 'issue_comment.created': {
      const parsed = issueCommentCreatedSchema.safeParse(payload);
      if (!parsed.success) return malformed(parsed.error);
      const p = parsed.data;
      const prompt = commandPrompt(p.comment.body);
      if (prompt === undefined) return { ignored: 'no /agent command' };
      const user = p.comment.user;
      if (!user || isBot(user, p.comment.performed_via_github_app)) return { ignored: 'comment by a bot' };
      const isPullRequest = p.issue.pull_request !== undefined && p.issue.pull_request !== null;
      return {
        trigger: {
          repo: p.repository.full_name,
          issueNumber: p.issue.number,
          isPullRequest,
          prompt,
          login: user.login,
          userId: user.id,
          commentId: p.comment.id,
          reactTo: { kind: 'issue-comment', id: p.comment.id },
          followUpOnly: false,
          event: name,
        },
      };
    }
    case 'issues.labeled': {
      const parsed = issuesLabeledSchema.safeParse(payload);
      if (!parsed.success) return malformed(parsed.error);
      const p = parsed.data;
      if (p.label?.name !== options.triggerLabel) return { ignored: 'not the trigger label' };
      if (isBot(p.sender, undefined)) return { ignored: 'labeled by a bot' };
      const body = (p.issue.body ?? '').trim();
      const prompt = body.length > 0 ? `${p.issue.title}\n\n${body}` : p.issue.title;
      return {
        trigger: {
          repo: p.repository.full_name,
          issueNumber: p.issue.number,
          isPullRequest: false,
          prompt,
          login: p.sender.login,
          userId: p.sender.id,
          reactTo: { kind: 'issue', number: p.issue.number },
          followUpOnly: false,
          event: name,
        },
      };
    }
    case 'pull_request_review_comment.created': {
      const parsed = reviewCommentCreatedSchema.safeParse(payload);
      if (!parsed.success) return malformed(parsed.error);
      const p = parsed.data;
      const prompt = commandPrompt(p.comment.body);
      if (prompt === undefined) return { ignored: 'no /agent command' };
      const user = p.comment.user;
      if (!user || isBot(user, p.comment.performed_via_github_app)) return { ignored: 'comment by a bot' };
      return {
        trigger: {
          repo: p.repository.full_name,
          issueNumber: p.pull_request.number,
          isPullRequest: true,
          prompt,
          login: user.login,
          userId: user.id,
          reactTo: { kind: 'review-comment', id: p.comment.id },
          followUpOnly: true,
          event: name,
        },
      };
    }
    default:
      return { ignored: `event ${name} is not handled` };
  }
}

function malformed(error: z.ZodError): TriggerResult {
  return { malformed: fieldProblems(error, 'payload') };
}
