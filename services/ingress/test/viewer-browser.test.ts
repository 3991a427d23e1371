import type { Page } from 'playwright-core';
import { DEFAULT_TEAM, newTaskId, viewerKey, type TaskTrigger } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIEWER_SECRET, auth, taskBody } from './ingress-fixture.js';
import { hasChromium, startPageHarness, type PageHarness } from './page-harness.js';

// Runs where Debian's chromium is installed (`apt-get install chromium`, as `.ci/run` does).
describe.skipIf(!hasChromium)('viewer page in a real browser', () => {
  let h: PageHarness;

  beforeAll(async () => {
    h = await startPageHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  /** Opens a viewer link in a new page of the browser. */
  async function openViewer(viewerUrl: string): Promise<Page> {
    const link = new URL(viewerUrl);
    const page = await h.browser.newPage();
    await page.goto(`${h.base}${link.pathname}${link.search}`);
    return page;
  }

  /** The page's DOM once it has followed its task to the end. */
  async function finishedDom(page: Page): Promise<string> {
    await page.locator('#conn', { hasText: 'finished' }).waitFor({ timeout: 20_000 });
    return page.content();
  }

  it('renders the transcript live, as text, and stops at the final state', async () => {
    const res = await h.fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody({ prompt: 'fix <b>it</b>' }) });
    const { id, viewerUrl } = res.json() as { id: string; viewerUrl: string };
    await h.fx.store.transition(id, 'starting');
    await h.fx.store.append(id, [{ kind: 'step', step: 'agent' }]);
    await h.fx.store.transition(id, 'running');
    await h.fx.store.append(id, [
      { kind: 'agent.message', text: 'Hello <img src=x onerror="document.title=1">' },
      { kind: 'agent.tool_call', id: 'toolu_1', name: 'Write', input: { file_path: 'CONTRIBUTING.md', content: '# Contributing' } },
      { kind: 'agent.tool_result', id: 'toolu_1', ok: true, output: 'File created' },
    ]);
    const page = await openViewer(viewerUrl);

    // once the page follows the stream live, the rest of the task happens
    await waitFor(() => h.fx.blockingClients.length === 1, { what: 'the page to follow the task', timeoutMs: 30_000 });
    await h.fx.store.append(id, [
      { kind: 'agent.usage', inputTokens: 1200, outputTokens: 340, costUsd: 0.0117 },
      { kind: 'git', action: 'push', ok: true, branch: 'agentq/abc-fix', commit: '0123456789abcdef', diffStat: { files: 1, insertions: 3, deletions: 0 } },
      { kind: 'agent.result', success: true, turns: 2, costUsd: 0.0123, summary: 'Added CONTRIBUTING.md' },
    ]);
    await h.fx.store.transition(id, 'succeeded');
    const dom = await finishedDom(page);

    expect(dom).toContain('<span id="state" class="badge state-succeeded">succeeded</span>');
    expect(dom).toContain('<span id="conn">finished</span>');
    expect(dom).toContain('Hello &lt;img src=x onerror="document.title=1"&gt;');
    expect(dom).not.toMatch(/<img/);
    expect(dom).toContain('<code>Write</code> CONTRIBUTING.md<span class="ok">  ✓</span>');
    expect(dom).toContain('File created');
    expect(dom).toContain('push agentq/abc-fix @ 0123456789 (1 files, +3 −0)');
    expect(dom).toContain('Added CONTRIBUTING.md');
    expect(dom).toContain('2 turns · $0.0123');
    // the running cost the model gateway metered
    expect(dom).toContain('tokens: 1200 in / 340 out · $0.0117 so far');
    expect(dom).toContain('<div class="prompt">fix &lt;b&gt;it&lt;/b&gt;</div>');
    const states = [...dom.matchAll(/<span class="label">state<\/span><span class="badge state-(\w+)">/g)].map((m) => m[1]);
    expect(states).toEqual(['queued', 'starting', 'running', 'succeeded']);
  });
  it('shows why a queued task waits at the top, and each task.waiting event in the transcript, live', async () => {
    const other = (await h.fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() })).json() as { id: string };
    const res = await h.fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody({ priority: 'low' }) });
    const { id, viewerUrl } = res.json() as { id: string; viewerUrl: string };
    // what the dispatcher writes when the task begins to wait: the record, then the event
    await h.fx.store.update(id, { waiting: { reason: 'team', position: 2, since: new Date().toISOString() } });
    await h.fx.store.append(id, [{ kind: 'task.waiting', reason: 'team', position: 2 }]);
    // the record's position moved on since
    await h.fx.store.update(id, { waiting: { reason: 'team', position: 1, since: new Date().toISOString() } });

    const page = await openViewer(viewerUrl);
    try {
      const text = (selector: string) => page.locator(selector).textContent();
      const waitText = (selector: string, expected: string) =>
        waitFor(async () => (await text(selector)) === expected, { what: `${selector} to read ${expected}`, timeoutMs: 20_000 });
      const waitingEntries = () => page.locator('.entry.task-waiting .body').allTextContents();

      await waitText('#conn', 'live');
      // the top shows where the task stands now (the record); the transcript what the event said
      await waitText('#waiting', 'waiting: team limit reached (position 1)');
      await waitFor(async () => (await waitingEntries()).length === 1, { what: 'the waiting entry' });
      expect(await waitingEntries()).toEqual(['waitingteam limit reached (position 2)']);

      await h.fx.store.append(id, [{ kind: 'task.waiting', reason: 'predecessor', on: other.id }]);
      await waitText('#waiting', `waiting for task ${other.id} to end`);
      expect(await waitingEntries()).toEqual([
        'waitingteam limit reached (position 2)',
        `waitingfor task ${other.id} to end`,
      ]);
      // event text is text, never markup
      await h.fx.store.append(id, [{ kind: 'task.waiting', reason: 'predecessor', on: '<img src=x onerror="document.title=1">' }]);
      await waitText('#waiting', 'waiting for task <img src=x onerror="document.title=1"> to end');
      expect(await page.locator('img').count()).toBe(0);

      // once it starts, it no longer waits
      await h.fx.store.transition(id, 'starting');
      await waitText('#state', 'starting');
      expect(await text('#waiting')).toBe('');
      await h.fx.store.transition(id, 'canceled');
      await waitText('#conn', 'finished');
      expect(await waitingEntries()).toHaveLength(3);
    } finally {
      await page.close();
    }
  });

  it('shows no waiting line for a task that does not wait', async () => {
    const { id, viewerUrl } = (await h.fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() })).json() as { id: string; viewerUrl: string };
    await h.fx.store.transition(id, 'canceled');
    const dom = await finishedDom(await openViewer(viewerUrl));
    expect(dom).toContain('<span id="waiting"></span>');
    expect(dom).toContain('<span id="conn">finished</span>');
  });

  it('shows why an automatic follow-up started in the header, as text, with a link to the check', async () => {
    const hostile = 'lint <img src=x onerror="document.title=1">';
    const trigger: TaskTrigger = {
      kind: 'ci_failure',
      pullNumber: 12,
      headSha: 'a'.repeat(40),
      url: 'https://github.com/acme/api/runs/77?a=1&b=2',
      checks: [
        { name: 'build', conclusion: 'failure', url: 'https://github.com/acme/api/runs/77' },
        { name: hostile, conclusion: 'failure', url: 'https://github.com/acme/api/runs/78' },
      ],
      attempt: 2,
    };
    const id = newTaskId();
    await h.fx.store.create({ id, repo: 'acme/api', prompt: 'The checks failed: fix them.', team: DEFAULT_TEAM, source: 'github', github: { issueNumber: 12, isPullRequest: true }, trigger });
    await h.fx.store.transition(id, 'canceled');
    const page = await openViewer(`http://agentq.test/tasks/${id}?key=${viewerKey(VIEWER_SECRET, id)}`);
    try {
      await finishedDom(page);
      expect(await page.locator('header #trigger').textContent()).toBe(`fixing failing checks: build, ${hostile} (attempt 2) · the failing check`);
      expect(await page.locator('header #trigger a').getAttribute('href')).toBe(trigger.url);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.title()).not.toBe('1');

      // a review's, and a link that is no web page is left out
      const other = newTaskId();
      const review: TaskTrigger = { kind: 'changes_requested', pullNumber: 12, reviewId: 5, url: 'javascript:alert(1)', reviewer: 'alice', comments: [], attempt: 1 };
      await h.fx.store.create({ id: other, repo: 'acme/api', prompt: 'Answer the review.', team: DEFAULT_TEAM, source: 'github', trigger: review });
      await h.fx.store.transition(other, 'canceled');
      const second = await openViewer(`http://agentq.test/tasks/${other}?key=${viewerKey(VIEWER_SECRET, other)}`);
      try {
        await finishedDom(second);
        expect(await second.locator('header #trigger').textContent()).toBe('answering the review of @alice (attempt 1)');
        expect(await second.locator('header #trigger a').count()).toBe(0);
      } finally {
        await second.close();
      }
    } finally {
      await page.close();
    }
  });

  it('shows no trigger line for a task that has none', async () => {
    const { id, viewerUrl } = (await h.fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() })).json() as { id: string; viewerUrl: string };
    await h.fx.store.transition(id, 'canceled');
    const page = await openViewer(viewerUrl);
    try {
      await finishedDom(page);
      expect(await page.locator('#trigger').count()).toBe(0);
    } finally {
      await page.close();
    }
  });
});
