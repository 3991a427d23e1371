import { hash } from 'node:crypto';

/**
 * Every Redis key agentq uses, under one prefix. Keys of one task share the hash tag `{<taskId>}`
 * so that scripts touching the record and its event stream work on Redis Cluster. agentq as a
 * whole needs a single Redis all the same: creating a task writes its record, the task index and
 * the relay's task list in one script, and the relay reads several tasks' streams in one call.
 */
export interface RedisKeys {
  readonly prefix: string;
  /** Hash: the task record, each field JSON-encoded. */
  task(taskId: string): string;
  /** Stream: the task's normalized events; entry id `<seq>-0`, field `e` holds the event JSON. */
  events(taskId: string): string;
  /** Sorted set of task ids scored by creation time (ms). */
  readonly taskIndex: string;
  /** String: idempotency key → task id. */
  idempotency(team: string, key: string): string;
  /** Stream of task ids that the log relay picks up (one entry per task). */
  readonly relayTasks: string;
  /** Pub/sub channel on which cancel requests are announced. */
  readonly cancelChannel: string;
  /** String: the latest task of a Slack thread (for follow-ups); written and read through `SlackThreads`. */
  slackThread(teamId: string, channel: string, threadTs: string): string;
  /** String: the task a model-gateway token grants (JSON `GatewayGrant`), under the token's SHA-256; expires with the run. */
  gatewayToken(tokenHash: string): string;
  /** Set: the hashes of a task's gateway tokens (to revoke them when it ends). */
  gatewayTokensOfTask(taskId: string): string;
  /** String: USD the model gateway metered for a task (a float, INCRBYFLOAT). */
  taskSpend(taskId: string): string;
  /** String: why the gateway refused a task's call for money (JSON `BudgetStop`); the dispatcher stops the task on it. */
  budgetStop(taskId: string): string;
  /** String: calls of a task (or a team) in one minute of the gateway's rate limit. */
  gatewayCalls(scope: 'task' | 'team', id: string, minute: number): string;
  /** Hash: the Slack sink's delivery state of a task (message ts, what was posted). */
  slackDelivery(taskId: string): string;
  /** Hash: Slack app installations (OAuth), encrypted, by team or enterprise. */
  readonly slackInstallations: string;
  /** String: the task that opened a GitHub pull request (for follow-ups from PR comments). */
  githubPull(repo: string, number: number): string;
  /** String: the latest task created for a GitHub pull request (comment and automatic follow-ups). */
  githubPullLatest(repo: string, number: number): string;
  /** Hash: automatic follow-ups of an agentq pull request: `attempts` since the last human push or comment, `stopped` once the cap was announced. */
  githubAutofix(repo: string, number: number): string;
  /** Set: the automatic follow-ups of a pull request (canceled when it is closed or labeled hands-off). */
  githubAutofixTasks(repo: string, number: number): string;
  /** String with a TTL: a cause (a commit's checks, a review) already followed up on a pull request. */
  githubAutofixCause(repo: string, number: number, cause: string): string;
  /** String (a float, INCRBYFLOAT): USD the tasks of a team that ended on a UTC day (`YYYY-MM-DD`) cost. */
  teamCost(team: string, day: string): string;
  /** Prefix given to BullMQ (its keys then live under `<prefix>:{q}:<queue>:*`: the queues `tasks` and `callbacks`). */
  readonly bullPrefix: string;
  /** String with a TTL: held by the dispatcher that sweeps sandboxes in the current interval. */
  readonly sweepLock: string;
  /** String with a TTL: a webhook signature seen, with the `Idempotency-Key` it came with (replay guard). */
  webhookSignature(signature: string): string;
  /**
   * Prefix of the concurrency slot ledger's keys (`<prefix>:{slots}:*`, one hash tag: its scripts
   * touch them together); the layout is in `limits/slot-ledger-lua.ts`.
   */
  readonly slots: string;
}

export function redisKeys(prefix = 'agentq'): RedisKeys {
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(prefix)) {
    throw new Error(`invalid Redis key prefix ${JSON.stringify(prefix)}`);
  }
  return {
    prefix,
    task: (id) => `${prefix}:task:{${id}}`,
    events: (id) => `${prefix}:events:{${id}}`,
    taskIndex: `${prefix}:tasks`,
    idempotency: (team, key) =>
      `${prefix}:idem:${hash('sha256', `${team}\n${key}`, 'hex')}`,
    relayTasks: `${prefix}:relay:tasks`,
    cancelChannel: `${prefix}:cancel`,
    slackThread: (teamId, channel, threadTs) => `${prefix}:slack:thread:${teamId}:${channel}:${threadTs}`,
    slackDelivery: (id) => `${prefix}:slack:delivery:{${id}}`,
    slackInstallations: `${prefix}:slack:installations`,
    githubPull: (repo, number) => `${prefix}:github:pr:${repo}#${number}`,
    githubPullLatest: (repo, number) => `${prefix}:github:pr-latest:${repo}#${number}`,
    githubAutofix: (repo, number) => `${prefix}:github:autofix:${repo}#${number}`,
    githubAutofixTasks: (repo, number) => `${prefix}:github:autofix-tasks:${repo}#${number}`,
    githubAutofixCause: (repo, number, cause) => `${prefix}:github:autofix-cause:${repo}#${number}:${cause}`,
    teamCost: (team, day) => `${prefix}:cost:${team}:${day}`,
    gatewayToken: (tokenHash) => `${prefix}:gateway:token:${tokenHash}`,
    gatewayTokensOfTask: (id) => `${prefix}:gateway:tokens:{${id}}`,
    taskSpend: (id) => `${prefix}:spend:{${id}}`,
    budgetStop: (id) => `${prefix}:budget-stop:{${id}}`,
    gatewayCalls: (scope, id, minute) => `${prefix}:gateway:calls:${scope}:${id}:${minute}`,
    bullPrefix: `${prefix}:{q}`,
    sweepLock: `${prefix}:sandboxes:sweep-lock`,
    webhookSignature: (signature) => `${prefix}:webhook:sig:${signature}`,
    slots: `${prefix}:{slots}`,
  };
}
