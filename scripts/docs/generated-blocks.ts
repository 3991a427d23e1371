/** The command that rewrites every generated block of the docs. */
export const REGENERATE_COMMAND = 'npm run docs';

const OPEN = /<!-- generated:([a-z0-9-]+) -->/g;
const BLOCK = /<!-- generated:([a-z0-9-]+) -->\n[\s\S]*?<!-- \/generated -->/g;

/** The names of the generated blocks a Markdown text holds, in order. */
export function generatedBlockNames(markdown: string): string[] {
  return [...markdown.matchAll(OPEN)].map((match) => match[1] ?? '');
}

/**
 * The text with every generated block filled from `tables` (the markers stay, the lines between
 * them are replaced). Throws on a block whose name has no table or that is never closed.
 */
export function fillGeneratedBlocks(markdown: string, tables: Readonly<Record<string, () => string>>): string {
  const names = generatedBlockNames(markdown);
  const closed = [...markdown.matchAll(BLOCK)].length;
  if (closed !== names.length) throw new Error(`a <!-- generated:… --> marker has no <!-- /generated --> after it`);
  return markdown.replace(BLOCK, (_block, name: string) => {
    const table = tables[name];
    if (!table) throw new Error(`no generated table named ${JSON.stringify(name)} (known: ${Object.keys(tables).join(', ')})`);
    return `<!-- generated:${name} -->\n${table()}\n<!-- /generated -->`;
  });
}
