import { repoNameSchema } from '@agentq/shared';
import { z } from 'zod';

/** The fields of GitHub webhook payloads the triggers read; anything else in a payload is left alone. */

const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const author = z.looseObject({ login: z.string().min(1).max(100), id, type: z.string().max(50).optional() });
const repository = z.looseObject({ full_name: repoNameSchema });
const comment = z.looseObject({
  id,
  body: z.string().max(1_000_000).nullable(),
  user: author.nullable(),
  performed_via_github_app: z.unknown().optional(),
});

export const issueCommentCreatedSchema = z.looseObject({
  repository,
  issue: z.looseObject({ number: id, pull_request: z.looseObject({}).nullish() }),
  comment,
});

export const issuesLabeledSchema = z.looseObject({
  repository,
  label: z.looseObject({ name: z.string().max(200) }).nullish(),
  sender: author,
  issue: z.looseObject({ number: id, title: z.string().max(1000), body: z.string().max(1_000_000).nullish() }),
});

export const reviewCommentCreatedSchema = z.looseObject({
  repository,
  pull_request: z.looseObject({ number: id }),
  comment,
});

const sha = z.string().regex(/^[0-9a-f]{40}$/, 'expected a commit SHA');
/** The pull requests a check or workflow delivery names (GitHub leaves those from forks out). */
const pullRequests = z.array(z.looseObject({ number: id })).max(1000);
const ciSubject = z.looseObject({ head_sha: sha, pull_requests: pullRequests });

export const checkSuiteCompletedSchema = z.looseObject({ repository, check_suite: ciSubject });
export const checkRunCompletedSchema = z.looseObject({ repository, check_run: ciSubject });
export const workflowRunCompletedSchema = z.looseObject({ repository, workflow_run: ciSubject });

export const reviewSubmittedSchema = z.looseObject({
  repository,
  pull_request: z.looseObject({ number: id }),
  review: z.looseObject({
    id,
    state: z.string().max(50),
    body: z.string().max(1_000_000).nullable(),
    html_url: z.string().max(2000),
    user: author.nullable(),
  }),
  sender: author,
});

export const pullRequestEventSchema = z.looseObject({
  repository,
  pull_request: z.looseObject({ number: id }),
  label: z.looseObject({ name: z.string().max(200) }).nullish(),
  sender: author,
});
