import GithubSlugger from 'github-slugger';
import { lexer, walkTokens, type Token } from 'marked';

/** A heading's text as rendered: code spans and links keep their text, markup goes. */
function plainText(tokens: Token[]): string {
  return tokens
    .map((token) => {
      if (token.type === 'html') return '';
      if ('tokens' in token && token.tokens) return plainText(token.tokens);
      return 'text' in token && typeof token.text === 'string' ? token.text : '';
    })
    .join('');
}

/** The anchors GitHub gives the headings of a Markdown text (`#quick-start`, duplicates `-1`, `-2`, …). */
export function headingAnchors(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  walkTokens(lexer(markdown), (token) => {
    if (token.type === 'heading') anchors.add(slugger.slug(plainText(token.tokens ?? [])));
  });
  return anchors;
}

/** Where a link points inside the repository: a path (empty: the same file) and an anchor. */
export interface LocalLink {
  href: string;
  path: string;
  anchor: string | undefined;
}

/** The links of a Markdown text to files of the repository (not in code; no URLs with a scheme). */
export function localLinks(markdown: string): LocalLink[] {
  const links: LocalLink[] = [];
  walkTokens(lexer(markdown), (token) => {
    if (token.type !== 'link' && token.type !== 'image') return;
    const href: string = token.href;
    if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('//')) return;
    const hash = href.indexOf('#');
    const path = decodeURIComponent(hash < 0 ? href : href.slice(0, hash));
    links.push({ href, path, anchor: hash < 0 ? undefined : decodeURIComponent(href.slice(hash + 1)) });
  });
  return links;
}
