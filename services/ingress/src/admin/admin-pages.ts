import { escapeHtml } from '../viewer/html-escape.js';
import { pageHead } from '../viewer/page-head.js';
import { VIEWER_CSS } from '../viewer/viewer-assets.js';

/** Headers of the admin's own pages: no script at all, forms posting to this origin only. */
export function adminPageHeaders(nonce: string): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`,
  };
}

const FORM_CSS = `
form.box { max-width: 420px; margin: 40px auto; padding: 20px; border: 1px solid var(--border); border-radius: 6px; background: var(--panel); }
form.box h1 { font-size: 18px; margin: 0 0 12px; }
label { display: block; margin-bottom: 6px; color: var(--muted); }
input[type=password] { width: 100%; padding: 6px 8px; margin-bottom: 12px; font: inherit; color: var(--fg); background: var(--bg); border: 1px solid var(--border); border-radius: 6px; }
button { font: inherit; padding: 5px 14px; border-radius: 6px; border: 1px solid var(--border); background: var(--bg); color: var(--fg); cursor: pointer; }
.err { margin: 0 0 12px; }
nav { display: flex; gap: 16px; align-items: center; }
`;

function page(title: string, nonce: string, body: string): string {
  return `${pageHead({ title: `${title} · agentq admin`, nonce, css: `${VIEWER_CSS}${FORM_CSS}`, noindex: true })}
<body>
${body}
</body>
</html>
`;
}

/** The sign-in form of the operators' pages; `problem` is shown above it. */
export function signInPage(nonce: string, action: string, problem?: string): string {
  return page(
    'Sign in',
    nonce,
    `<main>
<form class="box" method="post" action="${escapeHtml(action)}">
  <h1>agentq admin</h1>
  ${problem ? `<p class="err">${escapeHtml(problem)}</p>` : ''}
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
  <button type="submit">Sign in</button>
</form>
</main>`,
  );
}

/** The start page of the operators' pages: where they lead, and sign-out. `mount` is the path `/admin` is under. */
export function adminIndexPage(nonce: string, mount: string): string {
  const queues = escapeHtml(`${mount}/admin/queues`);
  return page(
    'Admin',
    nonce,
    `<header><nav><h1>agentq admin</h1><a href="${queues}">Queue dashboard</a>
<form method="post" action="${escapeHtml(`${mount}/admin/sign-out`)}"><button type="submit">Sign out</button></form></nav></header>
<main><p>The <a href="${queues}">queue dashboard</a> shows the task queue's jobs by state.</p></main>`,
  );
}
