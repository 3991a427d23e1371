import { triggerLinkText, triggerText, type TaskRecord } from '@agentq/shared';
import { escapeHtml, jsonForScript } from './html-escape.js';
import { pageHead } from './page-head.js';
import { VIEWER_CSS, VIEWER_JS } from './viewer-assets.js';

/** Headers of every viewer page: nothing external, nothing framed, the key never sent onward. */
export function viewerHeaders(nonce: string): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'content-security-policy': `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  };
}

/** A web page address (http or https), normalized; undefined for anything else. */
function webUrl(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

/** Why an automatic follow-up started, with a link to the check or review that caused it. */
function triggerHtml(task: TaskRecord): string {
  const trigger = task.trigger;
  if (!trigger) return '';
  const href = webUrl(trigger.url);
  const link = href ? ` · <a href="${escapeHtml(href)}" rel="noopener noreferrer">${escapeHtml(triggerLinkText(trigger))}</a>` : '';
  return `\n  <div id="trigger" class="trigger" data-kind="${escapeHtml(trigger.kind)}">${escapeHtml(triggerText(trigger))}${link}</div>`;
}

/** The live transcript page of one task. Only the task's request fields, and why it waits, are embedded, as JSON. */
export function viewerPage(task: TaskRecord, nonce: string): string {
  const waiting = task.state === 'queued' && task.waiting ? { reason: task.waiting.reason, position: task.waiting.position, on: task.waiting.on } : undefined;
  const data = { id: task.id, state: task.state, repo: task.repo, prompt: task.prompt, baseRef: task.baseRef, createdAt: task.createdAt, waiting, lastSeq: task.lastSeq ?? 0 };
  const title = `${task.repo} · ${task.prompt.replace(/\s+/g, ' ').slice(0, 60)}`;
  return `${pageHead({ title: `${title} · agentq`, nonce, css: VIEWER_CSS })}
<body>
<header>
  <h1>${escapeHtml(task.repo)}</h1>
  <div class="meta">
    <span id="state" class="badge">${escapeHtml(task.state)}</span>
    <span id="waiting"></span>
    <span id="step"></span>
    <span id="usage"></span>
    <span>task <code>${escapeHtml(task.id)}</code></span>
    <span id="conn">connecting…</span>
  </div>${triggerHtml(task)}
</header>
<main>
  <div class="prompt">${escapeHtml(task.prompt)}</div>
  <div id="feed"></div>
  <section id="result" class="result-box" hidden></section>
</main>
<script type="application/json" id="agentq-task">${jsonForScript(data)}</script>
<script nonce="${nonce}">${VIEWER_JS}</script>
</body>
</html>
`;
}

/** A plain page for a viewer link that does not work. */
export function viewerErrorPage(title: string, message: string, nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · agentq</title>
<style nonce="${nonce}">${VIEWER_CSS}</style></head>
<body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></main></body>
</html>
`;
}
