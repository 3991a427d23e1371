import { describe, expect, it } from 'vitest';
import { fillGeneratedBlocks, generatedBlockNames } from '../scripts/docs/generated-blocks.js';
import { headingAnchors, localLinks } from '../scripts/docs/markdown-links.js';

const tables = { one: () => '| a |\n|---|\n| 1 |', two: () => 'two' };

describe('generated blocks', () => {
  it('replace the lines between their markers, and nothing else', () => {
    const text = 'intro\n<!-- generated:one -->\nstale\nrows\n<!-- /generated -->\nmiddle\n<!-- generated:two -->\n<!-- /generated -->\nend\n';
    expect(generatedBlockNames(text)).toEqual(['one', 'two']);
    const filled = fillGeneratedBlocks(text, tables);
    expect(filled).toBe('intro\n<!-- generated:one -->\n| a |\n|---|\n| 1 |\n<!-- /generated -->\nmiddle\n<!-- generated:two -->\ntwo\n<!-- /generated -->\nend\n');
    expect(fillGeneratedBlocks(filled, tables)).toBe(filled);
  });

  it('refuse a block without a table, or without its closing marker', () => {
    expect(() => fillGeneratedBlocks('<!-- generated:three -->\n<!-- /generated -->\n', tables)).toThrow(/no generated table named "three"/);
    expect(() => fillGeneratedBlocks('<!-- generated:one -->\nrows\n', tables)).toThrow(/no <!-- \/generated -->/);
  });
});

describe('Markdown links', () => {
  it('give headings the anchors GitHub gives them', () => {
    const anchors = headingAnchors('# Per-repository settings (`.agentq.yml`)\n\n## Follow-ups\n\n## Follow-ups\n\n```\n# not a heading\n```\n');
    expect([...anchors]).toEqual(['per-repository-settings-agentqyml', 'follow-ups', 'follow-ups-1']);
  });

  it('find the links into the repository, not URLs or code', () => {
    const text = [
      'See [the API](api.md#signed-webhooks), [above](#quick-start) and [a folder](../shared/src/).',
      'Not [a site](https://example.com/x.md), <https://example.com>, [mail](mailto:a@example.com), `[code](x.md)`.',
      '```\n[fenced](y.md)\n```',
      '| [in a table](cli.md) |\n|---|',
    ].join('\n\n');
    expect(localLinks(text).map(({ path, anchor }) => [path, anchor])).toEqual([
      ['api.md', 'signed-webhooks'],
      ['', 'quick-start'],
      ['../shared/src/', undefined],
      ['cli.md', undefined],
    ]);
  });
});
