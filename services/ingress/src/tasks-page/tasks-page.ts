import { pageHead } from '../viewer/page-head.js';
import { VIEWER_CSS } from '../viewer/viewer-assets.js';
import { viewerHeaders } from '../viewer/viewer-page.js';
import { TASKS_PAGE_CSS, TASKS_PAGE_JS } from './tasks-page-assets.js';

/** Headers of the task list page: the viewer's (its own nonce-only scripts and styles, calls to this origin only). */
export const tasksPageHeaders = viewerHeaders;

/** The task list page: static; the script signs in with an API token and reads `GET /v1/tasks`. */
export function tasksPage(nonce: string): string {
  return `${pageHead({ title: 'Tasks · agentq', nonce, css: `${VIEWER_CSS}${TASKS_PAGE_CSS}` })}
<body>
<header>
  <nav>
    <h1>agentq tasks</h1>
    <div class="meta"><span id="conn"></span> <button id="signout" type="button" hidden>Sign out</button></div>
  </nav>
</header>
<main>
  <form id="signin" class="signin" hidden>
    <h2>Sign in</h2>
    <p id="problem"></p>
    <label for="token">API token</label>
    <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required>
    <button type="submit">Sign in</button>
  </form>
  <section id="list" hidden>
    <table>
      <thead><tr><th>State</th><th>Repository</th><th>Prompt</th><th>Age</th><th class="num">Cost</th></tr></thead>
      <tbody id="rows"></tbody>
    </table>
    <p id="empty" class="empty" hidden>No tasks yet.</p>
  </section>
</main>
<script nonce="${nonce}">${TASKS_PAGE_JS}</script>
</body>
</html>
`;
}
