import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

interface AppManifest {
  hook_attributes: { url: string; active: boolean };
  default_permissions: Record<string, string>;
  default_events: string[];
  public: boolean;
}

const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'deploy', 'github', 'app-manifest.json'), 'utf8')) as AppManifest;

describe('the GitHub App manifest', () => {
  it('sends webhooks to the ingress route', () => {
    expect(manifest.hook_attributes).toEqual({ url: 'https://agentq.example.com/github/webhooks', active: true });
    expect(manifest.public).toBe(false);
  });

  it('asks for the permissions agentq uses and no more, and the events that start tasks', () => {
    expect(manifest.default_permissions).toEqual({ contents: 'write', pull_requests: 'write', issues: 'write', metadata: 'read', checks: 'read', actions: 'read' });
    expect([...manifest.default_events].sort()).toEqual([
      'check_run',
      'check_suite',
      'issue_comment',
      'issues',
      'pull_request',
      'pull_request_review',
      'pull_request_review_comment',
      'workflow_run',
    ]);
  });
});
