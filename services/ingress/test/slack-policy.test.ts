import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ConfigError,
  InstallationCipher,
  OPEN_SLACK_POLICY,
  checkSlackAccess,
  isSlackAdmin,
  loadSlackPolicyFile,
  parseSlackPolicy,
} from '@agentq/shared';
import { makeTempDir } from '@agentq/shared/testing';
import { afterEach, describe, expect, it } from 'vitest';

const who = { teamId: 'T1', channel: 'C1', userId: 'U1' };

describe('Slack policy', () => {
  const dirs: { remove(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await dir.remove();
  });

  async function file(name: string, text: string): Promise<string> {
    const dir = await makeTempDir('agentq-policy-');
    dirs.push(dir);
    const path = join(dir.path, name);
    await writeFile(path, text);
    return path;
  }

  it('without rules lets everyone target every repository, counted against the default team', () => {
    expect(checkSlackAccess(OPEN_SLACK_POLICY, { ...who, repo: 'any/repo' })).toEqual({ allowed: true, team: 'default' });
    const adminsOnly = parseSlackPolicy({ admins: ['U9'] });
    expect(checkSlackAccess(adminsOnly, { ...who, repo: 'any/repo' }).allowed).toBe(true);
    expect(isSlackAdmin(adminsOnly, 'U9')).toBe(true);
    expect(isSlackAdmin(adminsOnly, 'U1')).toBe(false);
    expect(parseSlackPolicy(null)).toEqual({ admins: [], rules: [] });
  });

  it('lets the first rule matching workspace, channel, user and repository decide', () => {
    const policy = parseSlackPolicy({
      rules: [
        { channels: ['C1'], repos: ['acme/*'], team: 'platform' },
        { workspaces: ['T2'], repos: ['*'], team: 'second' },
        { users: ['U1', 'U2'], repos: ['demo/hello', 'demo/w*d'] },
      ],
    });
    expect(checkSlackAccess(policy, { ...who, repo: 'acme/api' })).toEqual({ allowed: true, team: 'platform', rule: 0 });
    expect(checkSlackAccess(policy, { ...who, channel: 'C2', repo: 'acme/api' })).toEqual({ allowed: false });
    expect(checkSlackAccess(policy, { ...who, teamId: 'T2', channel: 'C2', repo: 'acme/api' })).toEqual({ allowed: true, team: 'second', rule: 1 });
    expect(checkSlackAccess(policy, { ...who, teamId: 'T3', enterpriseId: 'T2', channel: 'C9', userId: 'U9', repo: 'x/y' })).toMatchObject({ allowed: true, team: 'second' });
    expect(checkSlackAccess(policy, { ...who, channel: 'C9', repo: 'demo/hello' })).toEqual({ allowed: true, team: 'default', rule: 2 });
    expect(checkSlackAccess(policy, { ...who, channel: 'C9', repo: 'demo/world' }).allowed).toBe(true);
    expect(checkSlackAccess(policy, { ...who, channel: 'C9', repo: 'demo/wo/rld' }).allowed).toBe(false);
    expect(checkSlackAccess(policy, { ...who, channel: 'C9', userId: 'U3', repo: 'demo/hello' }).allowed).toBe(false);
    // a star matches inside one part of the name only, and dots are literal
    const dotted = parseSlackPolicy({ rules: [{ repos: ['acme/a.b', '*/docs'] }] });
    expect(checkSlackAccess(dotted, { ...who, repo: 'acme/axb' }).allowed).toBe(false);
    expect(checkSlackAccess(dotted, { ...who, repo: 'anyone/docs' }).allowed).toBe(true);
  });

  it('reports every problem of a policy at once', () => {
    let error: unknown;
    try {
      parseSlackPolicy({ admins: ['*', 'lower'], rules: [{ channels: [], repos: [] }, { repos: ['ok/repo'], team: 'bad team', extra: 1 }], other: true }, 'policy.yaml');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toEqual(
      expect.arrayContaining([
        'policy.yaml: admins[0]: must be a Slack user id',
        expect.stringMatching(/^policy\.yaml: admins\[1\]: must be a Slack id/),
        'policy.yaml: rules[0].channels: must list at least one id, or "*"',
        'policy.yaml: rules[0].repos: must list at least one repository or pattern',
        expect.stringMatching(/^policy\.yaml: rules\[1\]\.team: must be 1 to 64/),
        expect.stringMatching(/^policy\.yaml: rules\[1\]: Unrecognized key: "extra"/),
        expect.stringMatching(/^policy\.yaml: \(top level\): Unrecognized key: "other"/),
      ]),
    );
  });

  it('loads YAML and JSON files, and says which file is wrong and why', async () => {
    const yamlPolicy = await loadSlackPolicyFile(
      await file('policy.yaml', 'admins: [U123, U456]\nrules:\n  - channels: [C0123]\n    users: ["*"]\n    repos: ["acme/*", "demo/hello"]\n    team: platform\n'),
    );
    expect(yamlPolicy).toEqual({
      admins: ['U123', 'U456'],
      rules: [{ workspaces: ['*'], channels: ['C0123'], users: ['*'], repos: ['acme/*', 'demo/hello'], team: 'platform' }],
    });
    const jsonPolicy = await loadSlackPolicyFile(await file('policy.json', JSON.stringify({ rules: [{ repos: ['*'] }] })));
    expect(jsonPolicy.rules).toHaveLength(1);

    const broken = await file('broken.yaml', 'rules: [\n');
    await expect(loadSlackPolicyFile(broken)).rejects.toThrow(new RegExp(`AGENTQ_SLACK_POLICY_FILE \\(${broken}\\): is not valid YAML`));
    await expect(loadSlackPolicyFile(await file('broken.json', '{'))).rejects.toThrow(/is not valid JSON/);
    await expect(loadSlackPolicyFile('/nonexistent/agentq/missing.yaml')).rejects.toThrow(/cannot be read \(ENOENT\)/);
    const wrong = await file('wrong.yaml', 'rules:\n  - repos: nope\n');
    await expect(loadSlackPolicyFile(wrong)).rejects.toThrow(/rules\[0\]\.repos: /);
  });
});

describe('installation encryption', () => {
  it('round-trips, uses a fresh IV each time, and binds a value to its field and key', () => {
    const cipher = new InstallationCipher('client-secret-0123');
    const a = cipher.encrypt('{"bot":{"token":"xoxb-secret"}}', 'team:T1');
    const b = cipher.encrypt('{"bot":{"token":"xoxb-secret"}}', 'team:T1');
    expect(a).not.toBe(b);
    expect(a).not.toContain('xoxb');
    expect(cipher.decrypt(a, 'team:T1')).toBe('{"bot":{"token":"xoxb-secret"}}');
    expect(() => cipher.decrypt(a, 'team:T2')).toThrow(expect.objectContaining({ code: 'SLACK_INSTALLATION_UNREADABLE' }));
    expect(() => new InstallationCipher('another-secret').decrypt(a, 'team:T1')).toThrow(/cannot be decrypted/);
    expect(() => cipher.decrypt('plain', 'team:T1')).toThrow(/unknown format/);
  });
});
