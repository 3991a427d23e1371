import { errorMessage, mintGatewayToken, revokeGatewayTokens, type Logger, type TaskRecord } from '@agentq/shared';
import type { GatewayAccess } from '../harnesses/harness.js';
import { SANDBOX_TIMEOUT_MARGIN_SEC } from './launch-spec.js';
import { runLimits } from './run-limits.js';
import type { RunnerDeps } from './runner-deps.js';

export type GatewayTokenDeps = Pick<RunnerDeps, 'config' | 'redis' | 'keys' | 'secrets'>;

/**
 * The model-gateway token of one run of a task: minted when its sandbox is created, valid as long
 * as the sandbox may live, redacted everywhere from the moment it exists, and revoked when the
 * task ends (with any token an earlier dispatcher minted for it).
 */
export class RunGatewayToken {
  private token: string | undefined;

  constructor(
    private readonly deps: GatewayTokenDeps,
    private readonly log: Logger,
  ) {}

  /**
   * The gateway as the task's sandbox sees it, minting its token once. Every run gets one: the
   * model keys live on the ingress, so the dispatcher cannot tell which providers it serves.
   */
  async access(task: TaskRecord): Promise<GatewayAccess> {
    const { config, redis, keys, secrets } = this.deps;
    const { gateway } = config;
    if (this.token === undefined) {
      const ttlSec = runLimits(task, config).timeoutSec + SANDBOX_TIMEOUT_MARGIN_SEC;
      const token = await mintGatewayToken(redis, keys, { taskId: task.id, team: task.team }, ttlSec);
      secrets.add(token);
      this.token = token;
    }
    return { url: gateway.url, token: this.token };
  }

  /** Ends every gateway token of the task: its sandbox's model calls get 401 from now on. A failure is logged (the tokens expire anyway). */
  async revoke(taskId: string): Promise<void> {
    try {
      await revokeGatewayTokens(this.deps.redis, this.deps.keys, taskId);
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'could not revoke the gateway tokens of the task; they expire with the sandbox');
    }
  }

  /** Forgets the token's value (the pattern still redacts any gateway token). */
  forget(): void {
    if (this.token === undefined) return;
    this.deps.secrets.remove(this.token);
    this.token = undefined;
  }
}
