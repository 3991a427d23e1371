import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Installation, InstallationQuery, InstallationStore } from '@slack/oauth';
import type { Redis } from 'ioredis';
import { AgentqError } from '../errors.js';
import type { RedisKeys } from '../redis/keys.js';

const FORMAT = 'v1';
const HKDF_SALT = 'agentq/slack-installations';
const HKDF_INFO = 'aes-256-gcm';

/** The hash field of an installation: the enterprise for org-wide installs, else the workspace. */
export function installationField(query: { teamId?: string; enterpriseId?: string; isEnterpriseInstall?: boolean }): string {
  if (query.isEnterpriseInstall) {
    if (!query.enterpriseId) throw new AgentqError('SLACK_INSTALLATION_INVALID', 'an org-wide installation needs an enterprise id');
    return `enterprise:${query.enterpriseId}`;
  }
  if (!query.teamId) throw new AgentqError('SLACK_INSTALLATION_INVALID', 'an installation needs a team id');
  return `team:${query.teamId}`;
}

/**
 * Authenticated encryption of installations: AES-256-GCM with a key derived (HKDF-SHA256) from
 * the Slack client secret, a random IV per value, and the hash field as associated data, so a
 * value cannot be moved to another workspace's field.
 */
export class InstallationCipher {
  private readonly key: Buffer;

  constructor(clientSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', clientSecret, HKDF_SALT, HKDF_INFO, 32));
  }

  encrypt(plaintext: string, field: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(field));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [FORMAT, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
  }

  decrypt(value: string, field: string): string {
    const [format, iv, tag, data] = value.split('.');
    if (format !== FORMAT || iv === undefined || tag === undefined || data === undefined) {
      throw new AgentqError('SLACK_INSTALLATION_UNREADABLE', `the stored installation ${field} has an unknown format`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(field));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new AgentqError(
        'SLACK_INSTALLATION_UNREADABLE',
        `the stored installation ${field} cannot be decrypted (was SLACK_CLIENT_SECRET changed? install the app again)`,
      );
    }
  }
}

/**
 * Slack app installations (the OAuth install flow, several workspaces) in one Redis hash,
 * `keys.slackInstallations`, one field per workspace or per enterprise (org-wide installs), each
 * value encrypted: bot tokens never sit in Redis in clear.
 */
export class RedisInstallationStore implements InstallationStore {
  private readonly cipher: InstallationCipher;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    clientSecret: string,
  ) {
    this.cipher = new InstallationCipher(clientSecret);
  }

  async storeInstallation(installation: Installation): Promise<void> {
    const field = installationField({
      teamId: installation.team?.id,
      enterpriseId: installation.enterprise?.id,
      isEnterpriseInstall: installation.isEnterpriseInstall === true,
    });
    await this.redis.hset(this.keys.slackInstallations, field, this.cipher.encrypt(JSON.stringify(installation), field));
  }

  /** The installation serving a workspace: its own, or its enterprise's org-wide one. Throws when there is none. */
  async fetchInstallation(query: InstallationQuery<boolean>): Promise<Installation> {
    const found = await this.find(query);
    if (!found) {
      const where = query.isEnterpriseInstall ? `enterprise ${query.enterpriseId ?? '?'}` : `workspace ${query.teamId ?? '?'}`;
      throw new AgentqError('SLACK_NOT_INSTALLED', `agentq is not installed in Slack ${where}`, { status: 404 });
    }
    return found;
  }

  /** Like `fetchInstallation`, undefined when there is none. */
  async find(query: InstallationQuery<boolean> | { teamId?: string; enterpriseId?: string; isEnterpriseInstall?: boolean }): Promise<Installation | undefined> {
    const fields = query.isEnterpriseInstall ? [] : [installationField({ teamId: query.teamId })];
    if (query.enterpriseId) fields.push(installationField({ enterpriseId: query.enterpriseId, isEnterpriseInstall: true }));
    if (fields.length === 0) fields.push(installationField(query));
    const values = await this.redis.hmget(this.keys.slackInstallations, ...fields);
    for (const [i, value] of values.entries()) {
      const field = fields[i];
      if (value && field) return JSON.parse(this.cipher.decrypt(value, field)) as Installation;
    }
    return undefined;
  }

  async deleteInstallation(query: InstallationQuery<boolean>): Promise<void> {
    await this.redis.hdel(this.keys.slackInstallations, installationField(query));
  }
}
