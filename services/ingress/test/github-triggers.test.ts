import { describe, expect, it } from 'vitest';
import { commandPrompt } from '../src/github/webhook-triggers.js';

describe('commandPrompt', () => {
  it('takes the rest of the comment from the first line that starts with /agent', () => {
    expect(commandPrompt('/agent fix the build')).toBe('fix the build');
    expect(commandPrompt('Context first.\r\n  /agent fix it\r\nand add a test\n')).toBe('fix it\nand add a test');
  });

  it('ignores /agent elsewhere in a line, without a prompt, or glued to a word', () => {
    expect(commandPrompt('please /agent fix it')).toBeUndefined();
    expect(commandPrompt('/agent   ')).toBeUndefined();
    expect(commandPrompt('/agents fix it')).toBeUndefined();
    expect(commandPrompt(null)).toBeUndefined();
  });
});
