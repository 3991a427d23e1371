import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentqError, LocalForge, REPO_CONFIG_FILES, REPO_CONFIG_MAX_BYTES, parseRepoConfig, readRepoFile } from '../src/index.js';
import { makeTempDir } from '../src/testing/index.js';

/** The error `parseRepoConfig` throws for `text`, or a failure when it throws none. */
function problemsOf(text: string, fileName = '.agentq.yml'): { error: AgentqError; lines: string[] } {
  try {
    parseRepoConfig(text, fileName);
  } catch (err) {
    expect(err).toBeInstanceOf(AgentqError);
    const error = err as AgentqError;
    return { error, lines: error.message.split('\n') };
  }
  throw new Error(`expected ${JSON.stringify(text)} to be rejected`);
}

describe('parseRepoConfig', () => {
  it('reads every setting', () => {
    const text = [
      'image: ghcr.io/acme/agent-sandbox:2      # sandbox image',
      'setup:',
      '  - npm ci',
      '  - npm run build',
      'allowedDomains:',
      '  - registry.npmjs.org',
      '  - "*.pythonhosted.org"',
      'harness: claude-code',
      'model: claude-sonnet-4-5',
      'maxTurns: 30',
      'autofix:',
      '  ci: true',
      '  reviews: false',
      '  maxAttempts: 2',
      '',
    ].join('\n');
    expect(parseRepoConfig(text, '.agentq.yml')).toEqual({
      image: 'ghcr.io/acme/agent-sandbox:2',
      setup: ['npm ci', 'npm run build'],
      allowedDomains: ['registry.npmjs.org', '*.pythonhosted.org'],
      harness: 'claude-code',
      model: 'claude-sonnet-4-5',
      maxTurns: 30,
      autofix: { ci: true, reviews: false, maxAttempts: 2 },
    });
  });

  it('names the known keys of autofix when one is misspelled, and checks their values', () => {
    const { lines } = problemsOf('autofix:\n  cii: true\n  reviews: yes please\n  maxAttempts: 50\n');
    expect([...lines].sort()).toEqual([
      '.agentq.yml: autofix.cii: unknown setting (known: ci, reviews, maxAttempts)',
      '.agentq.yml: autofix.maxAttempts: must be at most 20',
      '.agentq.yml: autofix.reviews: expected true or false',
    ]);
  });

  it('takes an empty file, or one with only comments, as no settings; keeps multi-line commands whole', () => {
    expect(parseRepoConfig('', '.agentq.yml')).toEqual({});
    expect(parseRepoConfig('# nothing here yet\n', '.agentq.yml')).toEqual({});
    expect(parseRepoConfig('setup:\n  - |\n    set -e\n    make deps\n', '.agentq.yml')).toEqual({ setup: ['set -e\nmake deps\n'] });
  });

  it('reports every problem at once, each with the file name and its place', () => {
    const { error, lines } = problemsOf(
      [
        'image: "not an image!"',
        'setup:',
        '  - npm ci',
        '  - 42',
        '  - ""',
        'allowedDomains: [registry.npmjs.org, "bad domain", "*.ok.example"]',
        'harness: cursor',
        'model: "spaces are not allowed"',
        'maxTurns: 0',
        'imagee: typo',
        'extra: 1',
      ].join('\n'),
    );
    expect(error.code).toBe('DISPATCH_REPO_CONFIG_INVALID');
    expect(lines).toEqual(
      expect.arrayContaining([
        '.agentq.yml: image: must be a container image reference, e.g. ghcr.io/acme/sandbox:2',
        '.agentq.yml: setup[1]: expected a string',
        '.agentq.yml: setup[2]: must not be empty',
        '.agentq.yml: allowedDomains[1]: must be a domain name (a leading `*.` is allowed)',
        '.agentq.yml: harness: must be one of claude-code, codex, command, demo',
        '.agentq.yml: model: must be a model name (letters, digits and . _ : / -, at most 100)',
        '.agentq.yml: maxTurns: must be at least 1',
        '.agentq.yml: imagee: unknown setting (known: image, setup, allowedDomains, harness, model, maxTurns, autofix)',
        '.agentq.yml: extra: unknown setting (known: image, setup, allowedDomains, harness, model, maxTurns, autofix)',
      ]),
    );
    expect(lines).toHaveLength(9);
    expect(error.details).toMatchObject({ file: '.agentq.yml', problems: expect.any(Array) });
  });

  it('enforces the limits, also alongside problems in the items', () => {
    const tooMany = Array.from({ length: 21 }, (_, i) => `  - echo ${i}`);
    const { lines } = problemsOf(['setup:', ...tooMany, '  - null', `  - ${'x'.repeat(4001)}`].join('\n'), '.agentq.yaml');
    expect(lines).toEqual(
      expect.arrayContaining([
        '.agentq.yaml: setup: at most 20 commands',
        '.agentq.yaml: setup[21]: expected a string',
        '.agentq.yaml: setup[22]: must be at most 4000 characters',
      ]),
    );
    const domains = Array.from({ length: 51 }, (_, i) => `d${i}.example.com`);
    expect(problemsOf(`allowedDomains: [${domains.join(', ')}]`).lines).toEqual(['.agentq.yml: allowedDomains: at most 50 domains']);
    expect(problemsOf('maxTurns: 1001').lines).toEqual(['.agentq.yml: maxTurns: must be at most 1000']);
    expect(problemsOf('maxTurns: 2.5').lines).toEqual(['.agentq.yml: maxTurns: expected a whole number']);
    expect(problemsOf('maxTurns: "30"').lines).toEqual(['.agentq.yml: maxTurns: expected a number']);
    expect(problemsOf('setup: npm ci').lines).toEqual(['.agentq.yml: setup: expected a list of commands']);
    expect(parseRepoConfig(`setup:\n${tooMany.slice(0, 20).join('\n')}\nmaxTurns: 1000\n`, '.agentq.yml').setup).toHaveLength(20);
  });

  it('rejects a file that is not YAML, not a mapping, or too large', () => {
    const tab = problemsOf('setup:\n\t- npm ci\n');
    expect(tab.error.code).toBe('DISPATCH_REPO_CONFIG_INVALID');
    expect(tab.lines[0]).toMatch(/^\.agentq\.yml: not valid YAML: .*line 2/);
    expect(problemsOf('maxTurns: 1\nmaxTurns: 2\n').lines[0]).toMatch(/^\.agentq\.yml: not valid YAML: Map keys must be unique/);
    expect(problemsOf('image: a\n---\nimage: b\n').lines[0]).toMatch(/^\.agentq\.yml: not valid YAML: .*multiple documents/);
    expect(problemsOf('- npm ci\n').lines).toEqual([
      '.agentq.yml: expected a mapping of settings (image, setup, allowedDomains, harness, model, maxTurns, autofix) at the top level',
    ]);
    expect(problemsOf('just a sentence').lines[0]).toContain('expected a mapping of settings');
    const big = `# ${'x'.repeat(REPO_CONFIG_MAX_BYTES)}\n`;
    expect(problemsOf(big).lines).toEqual([`.agentq.yml: the file is ${big.length} bytes, more than the 64 KiB allowed`]);
  });

  it('refuses alias bombs', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 10; i++) lines.push(`${'b'.repeat(i)}: &${'b'.repeat(i)} [${Array(10).fill(i === 1 ? '*a' : `*${'b'.repeat(i - 1)}`).join(', ')}]`);
    const { error, lines: problems } = problemsOf(lines.join('\n'));
    expect(error.code).toBe('DISPATCH_REPO_CONFIG_INVALID');
    expect(problems[0]).toMatch(/^\.agentq\.yml: not valid YAML: /);
  });

  it('lists at most 20 problems and counts the rest', () => {
    const keys = Array.from({ length: 25 }, (_, i) => `unknown${i}: 1`);
    const { error, lines } = problemsOf(keys.join('\n'));
    expect(lines).toHaveLength(21);
    expect(lines[20]).toBe('.agentq.yml: … and 5 more problems');
    expect((error.details?.problems as string[]).length).toBe(25);
  });

  it('looks for .agentq.yml first, then .agentq.yaml', () => {
    expect(REPO_CONFIG_FILES).toEqual(['.agentq.yml', '.agentq.yaml']);
  });
});

describe('reading a file at a ref of a bare repository', () => {
  let tmp: Awaited<ReturnType<typeof makeTempDir>>;
  let forge: LocalForge;
  const REPO = 'acme/config';
  const git = (args: string[], cwd: string) =>
    execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
    });
  let firstCommit = '';

  beforeAll(async () => {
    tmp = await makeTempDir('agentq-repofile-');
    forge = new LocalForge(tmp.path);
    await forge.seed(REPO, { '.agentq.yml': 'maxTurns: 1\n', 'README.md': '# config\n' });
    const work = join(tmp.path, 'work');
    git(['clone', '--quiet', forge.path(REPO), work], tmp.path);
    firstCommit = git(['rev-parse', 'HEAD'], work).trim();
    git(['checkout', '--quiet', '-b', 'feature'], work);
    await writeFile(join(work, '.agentq.yml'), 'maxTurns: 2\n');
    await mkdir(join(work, 'dir.yml'));
    await writeFile(join(work, 'dir.yml', 'inner'), 'x\n');
    await writeFile(join(work, 'big.txt'), 'y'.repeat(5000));
    git(['add', '-A'], work);
    git(['commit', '--quiet', '-m', 'feature'], work);
    git(['tag', 'v1', 'HEAD~1'], work);
    // a tag and a branch with the same name: the branch wins, as in the run script
    git(['branch', 'same', 'feature'], work);
    git(['tag', 'same', firstCommit], work);
    git(['push', '--quiet', 'origin', 'feature', 'refs/heads/same:refs/heads/same', 'refs/tags/v1', 'refs/tags/same'], work);
  });
  afterAll(async () => {
    await tmp?.remove();
  });

  it('reads the default branch, a branch, a tag or a commit', async () => {
    expect(await forge.readFile(REPO, undefined, '.agentq.yml', 1024)).toMatchObject({ content: 'maxTurns: 1\n', size: 12, sha: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect((await forge.readFile(REPO, 'feature', '.agentq.yml', 1024))?.content).toBe('maxTurns: 2\n');
    expect((await forge.readFile(REPO, 'v1', '.agentq.yml', 1024))?.content).toBe('maxTurns: 1\n');
    expect((await forge.readFile(REPO, firstCommit, '.agentq.yml', 1024))?.content).toBe('maxTurns: 1\n');
    expect((await forge.readFile(REPO, 'same', '.agentq.yml', 1024))?.content).toBe('maxTurns: 2\n');
  });

  it('answers undefined for a missing file, ref or a directory, and leaves out content over the limit', async () => {
    expect(await forge.readFile(REPO, undefined, '.agentq.yaml', 1024)).toBeUndefined();
    expect(await forge.readFile(REPO, 'no-such-branch', '.agentq.yml', 1024)).toBeUndefined();
    expect(await forge.readFile(REPO, '--upload-pack=touch', '.agentq.yml', 1024)).toBeUndefined();
    expect(await forge.readFile(REPO, 'a..b', '.agentq.yml', 1024)).toBeUndefined();
    expect(await forge.readFile(REPO, 'feature', 'dir.yml', 1024)).toBeUndefined();
    expect(await forge.readFile(REPO, 'feature', 'big.txt', 4999)).toMatchObject({ size: 5000, content: undefined });
    expect((await forge.readFile(REPO, 'feature', 'big.txt', 5000))?.content).toHaveLength(5000);
    await expect(readRepoFile(forge.path(REPO), undefined, '../outside', 1024)).rejects.toMatchObject({ code: 'FORGE_BAD_PATH' });
  });
});
