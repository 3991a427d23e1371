import { errorMessage, parseRepoName, type Logger } from '@agentq/shared';
import type { Octokit } from '@octokit/core';
import { z } from 'zod';

const jobSchema = z.looseObject({
  steps: z.array(z.looseObject({ name: z.string(), number: z.number().int(), conclusion: z.string().nullish() })).nullish(),
});

/** What a failed GitHub Actions job shows: its failing steps and its log. */
export interface JobReport {
  failingSteps: string[];
  /** The whole log; undefined when it could not be read (expired, or not allowed). */
  log: string | undefined;
}

/** Longest wait for a job's log download. */
const LOG_TIMEOUT_MS = 20_000;

/**
 * The failing steps (`GET /repos/{o}/{r}/actions/jobs/{id}`) and the log of a job
 * (`.../logs`: GitHub answers with a redirect to a short-lived download URL, which fetch follows).
 * Failures are logged and leave the part out: a follow-up still has the check's own output.
 */
export async function jobReport(octokit: Octokit, repo: string, jobId: number, log: Logger): Promise<JobReport> {
  const { owner, name } = parseRepoName(repo);
  const report: JobReport = { failingSteps: [], log: undefined };
  try {
    const { data } = await octokit.request('GET /repos/{owner}/{repo}/actions/jobs/{job_id}', { owner, repo: name, job_id: jobId });
    const steps = jobSchema.parse(data).steps ?? [];
    report.failingSteps = steps.filter((s) => s.conclusion === 'failure' || s.conclusion === 'timed_out').map((s) => `${s.number}. ${s.name} (${s.conclusion ?? ''})`);
  } catch (err) {
    log.warn({ jobId, err: errorMessage(err) }, 'actions job could not be read');
  }
  try {
    const res = await octokit.request('GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs', {
      owner,
      repo: name,
      job_id: jobId,
      request: { redirect: 'follow', signal: AbortSignal.timeout(LOG_TIMEOUT_MS) },
    });
    const data: unknown = res.data;
    report.log = typeof data === 'string' ? data : data instanceof ArrayBuffer ? Buffer.from(data).toString('utf8') : undefined;
  } catch (err) {
    log.warn({ jobId, err: errorMessage(err) }, 'actions job log could not be read');
  }
  return report;
}
