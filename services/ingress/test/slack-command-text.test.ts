import { describe, expect, it } from 'vitest';
import { decodeSlackText, parseSlashCommand, parseTaskText, stripLeadingMentions } from '../src/slack/command-text.js';

const ID = '01jd3k8m2xq4v7c9e5h6t0r2ab';

describe('slash command text', () => {
  it('knows the subcommands', () => {
    expect(parseSlashCommand('')).toEqual({ kind: 'help' });
    expect(parseSlashCommand('  HELP ')).toEqual({ kind: 'help' });
    expect(parseSlashCommand('status')).toEqual({ kind: 'status' });
    expect(parseSlashCommand(`status ${ID.toUpperCase()}`)).toEqual({ kind: 'status', id: ID });
    expect(parseSlashCommand('status nope')).toMatchObject({ kind: 'invalid' });
    expect(parseSlashCommand('list')).toEqual({ kind: 'list', all: false });
    expect(parseSlashCommand('list all')).toEqual({ kind: 'list', all: true });
    expect(parseSlashCommand('list mine')).toMatchObject({ kind: 'invalid' });
    expect(parseSlashCommand(`cancel ${ID}`)).toEqual({ kind: 'cancel', id: ID });
    expect(parseSlashCommand(`cancel ${ID} now`)).toMatchObject({ kind: 'invalid' });
  });

  it('reads a task: repository, prompt and options in both spellings, at both ends', () => {
    expect(parseSlashCommand('acme/api fix the flaky test')).toEqual({ kind: 'task', repo: 'acme/api', prompt: 'fix the flaky test', options: {} });
    expect(parseSlashCommand('acme/api --harness claude-code --max-turns=12 fix it --model=claude-opus-4-1')).toEqual({
      kind: 'task',
      repo: 'acme/api',
      prompt: 'fix it',
      options: { harness: 'claude-code', maxTurns: 12, model: 'claude-opus-4-1' },
    });
    expect(parseSlashCommand('acme/api fix it --max-turns 12 --harness=demo')).toMatchObject({ options: { maxTurns: 12, harness: 'demo' } });
    expect(parseSlashCommand('acme/api --priority high fix it')).toEqual({ kind: 'task', repo: 'acme/api', prompt: 'fix it', options: { priority: 'high' } });
    expect(parseSlashCommand('acme/api fix it --priority=low')).toMatchObject({ prompt: 'fix it', options: { priority: 'low' } });
    expect(parseSlashCommand('acme/api --priority normal fix it')).toMatchObject({ options: { priority: 'normal' } });
  });

  it('keeps the prompt as written, line breaks and mid-prompt flags included', () => {
    expect(parseTaskText('acme/api first line\n  second --line\nthird', 'required')).toEqual({
      ok: true,
      repo: 'acme/api',
      prompt: 'first line\n  second --line\nthird',
      options: {},
    });
    expect(parseTaskText('acme/api add a --verbose flag', 'required')).toMatchObject({ ok: true, prompt: 'add a --verbose flag' });
  });

  it('names what is wrong', () => {
    expect(parseTaskText('', 'required')).toMatchObject({ ok: false, reason: 'no-repo' });
    expect(parseTaskText('hello there', 'required')).toMatchObject({ ok: false, reason: 'no-repo' });
    expect(parseTaskText('acme/api', 'required')).toMatchObject({ ok: false, reason: 'empty-prompt' });
    expect(parseTaskText('acme/api --model=m1', 'required')).toMatchObject({ ok: false, reason: 'empty-prompt' });
    expect(parseTaskText('acme/api do it --max-turns=0', 'required')).toMatchObject({ ok: false, reason: 'bad-option' });
    expect(parseTaskText('acme/api do it --max-turns=2.5', 'required')).toMatchObject({ ok: false, reason: 'bad-option' });
    expect(parseTaskText('acme/api do it --model=bad!name', 'required')).toMatchObject({ ok: false, reason: 'bad-option' });
    expect(parseTaskText('acme/api --priority urgent do it', 'required')).toEqual({
      ok: false,
      reason: 'bad-option',
      problem: '--priority must be one of low, normal, high',
    });
    expect(parseTaskText('acme/api do it --model=a --model=b', 'required')).toMatchObject({ ok: false, problem: '--model is given twice' });
    expect(parseTaskText('acme/api --nope=1 do it', 'required')).toMatchObject({ ok: false, problem: expect.stringMatching(/unknown option --nope/) });
    expect(parseTaskText('acme/api do it --harness', 'required')).toMatchObject({ ok: false, problem: '--harness needs a value' });
  });

  it('takes the repository as optional in a follow-up', () => {
    expect(parseTaskText('also add tests', 'optional')).toEqual({ ok: true, prompt: 'also add tests', options: {} });
    expect(parseTaskText('acme/api also add tests', 'optional')).toMatchObject({ ok: true, repo: 'acme/api', prompt: 'also add tests' });
  });
});

describe('Slack markup', () => {
  it('is turned back into plain text', () => {
    expect(decodeSlackText('see <https://example.com/a?b=1&amp;c=2|example.com> and <https://x.test>')).toBe(
      'see https://example.com/a?b=1&c=2 and https://x.test',
    );
    expect(decodeSlackText('ask <@U123|bob> in <#C42|dev>, <#C43> or <!here>; a &lt;b&gt; &amp;')).toBe('ask @U123 in #dev, #C43 or @here; a <b> &');
    expect(decodeSlackText('mail <mailto:a@b.test|a@b.test>')).toBe('mail a@b.test');
  });

  it('loses the leading mentions of the app', () => {
    expect(stripLeadingMentions('<@U0AGENTQ> acme/api do it')).toBe('acme/api do it');
    expect(stripLeadingMentions(' <@U0AGENTQ|agentq>  <@U0AGENTQ> acme/api do <@U1> it')).toBe('acme/api do <@U1> it');
  });
});
