import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { FakeModelApi } from '@agentq/shared/testing';
const fake = new FakeModelApi();
const url = await fake.start();
const home = mkdtempSync('/tmp/codex-home-');
const args = ['exec', '--json', '--skip-git-repo-check', '-s', 'danger-full-access', '-c', 'model_provider="agentq"', '-c', `model_providers.agentq={name="agentq", base_url="${url}/v1", env_key="AGENTQ_MODEL_TOKEN", wire_api="responses"}`, '--', 'say hi'];
const child = execFile('/tmp/codex-try/node_modules/.bin/codex', args, { cwd: home, env: { PATH: process.env.PATH, HOME: home, AGENTQ_MODEL_TOKEN: 'tok-123' }, timeout: 60000 }, (err, stdout, stderr) => {
  console.log('ERR', err?.message?.slice(0, 300));
  console.log('STDOUT', stdout.slice(0, 3000));
  console.log('STDERR', stderr.slice(-2000));
  console.log('CALLS', fake.calls.map((c) => `${c.method} ${c.url} ${c.headers.authorization}`));
  void fake.stop();
});
child.stdin?.end();
