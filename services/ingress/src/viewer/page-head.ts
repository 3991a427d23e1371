import { escapeHtml } from './html-escape.js';

/**
 * The start of each web page of the ingress, through `</head>`: its title (escaped), no referrer,
 * and its styles under the page's nonce (the only styles its policy allows).
 */
export function pageHead(options: { title: string; nonce: string; css: string; noindex?: boolean }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
${options.noindex ? '<meta name="robots" content="noindex">\n' : ''}<title>${escapeHtml(options.title)}</title>
<style nonce="${options.nonce}">${options.css}</style>
</head>`;
}
