import { AgentqError, type SlackTokenResolver, type SlackWorkspace } from '@agentq/shared';
import { NoSlackTokenError } from '../../relay-errors.js';

/** Token resolver codes meaning there is no usable token for the workspace (retrying cannot help). */
const NO_TOKEN_CODES = new Set(['SLACK_NOT_CONFIGURED', 'SLACK_NOT_INSTALLED', 'SLACK_INSTALLATION_UNREADABLE', 'SLACK_INSTALLATION_INVALID']);

/**
 * The bot token of one task's workspace, resolved once and kept; read again on request (the app
 * may have been installed again with a new token).
 */
export class WorkspaceToken {
  private token: string | undefined;

  constructor(
    private readonly resolve: SlackTokenResolver,
    private readonly workspace: SlackWorkspace,
  ) {}

  /** The token; `NoSlackTokenError` when the workspace has none (anything else, e.g. Redis, is worth a retry). */
  async get(): Promise<string> {
    if (this.token !== undefined) return this.token;
    try {
      this.token = await this.resolve({ teamId: this.workspace.teamId, enterpriseId: this.workspace.enterpriseId });
    } catch (err) {
      // the resolver lives in the shared package and speaks in codes: the boundary turns them into a kind
      if (err instanceof AgentqError && (NO_TOKEN_CODES.has(err.code) || err.status < 500)) {
        throw new NoSlackTokenError(err.message, { resolverCode: err.code, cause: err });
      }
      throw err;
    }
    return this.token;
  }

  /** Resolves the token again; true when that gave a token other than the one held before. */
  async renew(): Promise<boolean> {
    const previous = this.token;
    this.token = undefined;
    try {
      return (await this.get()) !== previous;
    } catch {
      // decided on the next attempt
      return false;
    }
  }
}
