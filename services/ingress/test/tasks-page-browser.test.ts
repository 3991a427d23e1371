import { newTaskId, recordSpend } from '@agentq/shared';
import { waitFor } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALPHA_TOKEN, BETA_TOKEN, auth, taskBody } from './ingress-fixture.js';
import { hasChromium, startPageHarness, type PageHarness } from './page-harness.js';

/** Evaluated in the page (the tests have no DOM types). */
const STORED_TOKEN = "sessionStorage.getItem('agentq.apiToken')";
const XSS = '<img src=x onerror="document.title=\'pwned\'"> tidy the logs';

// Runs where Debian's chromium is installed (`apt-get install chromium`, as `.ci/run` does).
describe.skipIf(!hasChromium)('task list page in a real browser', () => {
  let h: PageHarness;

  beforeAll(async () => {
    h = await startPageHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  const create = async (token: string, prompt: string) =>
    (await h.fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(token), payload: taskBody({ prompt }) })).json() as { id: string };

  it('signs in with an API token, lists its team\'s tasks as text, follows them live, links to the viewer, signs out', async () => {
    const running = await create(ALPHA_TOKEN, 'fix the flaky login test\nand say why it flaked');
    const hostile = await create(ALPHA_TOKEN, XSS);
    const other = await create(BETA_TOKEN, 'a task of another team');
    await h.fx.store.transition(running.id, 'starting');
    await h.fx.store.transition(running.id, 'running');
    await recordSpend(h.fx.redis, h.fx.keys, { taskId: running.id, team: 'alpha', usd: 0.0125, at: new Date() });

    const page = await h.browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      // (a browser asks for /favicon.ico by itself; there is none)
      if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) problems.push(message.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));
    const urls: string[] = [];
    page.on('request', (request) => urls.push(request.url()));
    try {
      const response = await page.goto(`${h.base}/tasks`);
      const csp = response?.headers()['content-security-policy'] ?? '';
      expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
      expect(csp).not.toContain('unsafe-inline');

      await page.locator('#token').fill(ALPHA_TOKEN);
      await page.locator('#signin button[type=submit]').click();
      const row = (id: string) => page.locator(`tr[data-task="${id}"]`);
      await row(running.id).waitFor({ timeout: 20_000 });
      await row(hostile.id).waitFor();
      expect(await page.locator('#rows tr').count()).toBe(2);
      expect(await row(other.id).count()).toBe(0);
      expect(await page.content()).not.toContain('a task of another team');

      // what each row says: state, repository, the prompt's first line, age, cost so far
      expect(await row(running.id).locator('td').allTextContents()).toEqual(['running', 'demo/hello', 'fix the flaky login test', expect.stringMatching(/^\d+ s$/), '$0.0125 so far']);
      expect(await row(hostile.id).locator('td.state').textContent()).toBe('queued');
      // a prompt's markup is text
      expect(await row(hostile.id).locator('td.prompt').textContent()).toBe(XSS);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.title()).toBe('Tasks · agentq');

      // the token stays in this tab's sessionStorage and in headers, never in a URL
      expect(await page.evaluate(STORED_TOKEN)).toBe(ALPHA_TOKEN);
      expect(urls.some((url) => url.includes(ALPHA_TOKEN))).toBe(false);
      expect(page.url()).toBe(`${h.base}/tasks`);

      // the running task ends: the row changes without a reload
      await page.evaluate('window.notReloaded = true');
      await h.fx.store.transition(running.id, 'publishing');
      await h.fx.store.transition(running.id, 'succeeded', { costUsd: 0.0311 });
      await waitFor(async () => (await row(running.id).locator('td.state').textContent()) === 'succeeded', { what: 'the row to show succeeded', timeoutMs: 20_000 });
      expect(await row(running.id).locator('td.cost').textContent()).toBe('$0.0311');
      expect(await row(running.id).locator('td.state .badge').getAttribute('class')).toBe('badge state-succeeded');
      expect(await page.evaluate('window.notReloaded')).toBe(true);

      // the prompt links to the task's viewer page
      await row(running.id).locator('td.prompt a').click();
      await page.waitForURL(new RegExp(`/tasks/${running.id}\\?key=`));
      await page.locator('#state', { hasText: 'succeeded' }).waitFor({ timeout: 20_000 });
      expect(await page.locator('header h1').textContent()).toBe('demo/hello');

      // back on the list, the tab is still signed in; signing out forgets the token
      await page.goto(`${h.base}/tasks`);
      await row(running.id).waitFor({ timeout: 20_000 });
      await page.locator('#signout').click();
      await page.locator('#signin').waitFor();
      expect(await page.evaluate(STORED_TOKEN)).toBeNull();
      expect(await page.locator('#rows tr').count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('shows why an automatic follow-up started under its prompt, as text, with a link to the review', async () => {
    const id = newTaskId();
    const url = 'https://github.com/demo/hello/pull/12#pullrequestreview-5';
    await h.fx.store.create({
      id,
      repo: 'demo/hello',
      prompt: 'Answer the review of pull request #12.',
      team: 'alpha',
      source: 'github',
      github: { issueNumber: 12, isPullRequest: true },
      trigger: { kind: 'changes_requested', pullNumber: 12, reviewId: 5, url, reviewer: '<b>alice</b>', comments: [], attempt: 2 },
    });
    const page = await h.browser.newPage();
    try {
      await page.goto(`${h.base}/tasks`);
      await page.locator('#token').fill(ALPHA_TOKEN);
      await page.locator('#signin button[type=submit]').click();
      const why = page.locator(`tr[data-task="${id}"] td.prompt .trigger`);
      await why.waitFor({ timeout: 20_000 });
      expect(await why.textContent()).toBe('answering the review of @<b>alice</b> (attempt 2) · the review');
      expect(await why.locator('a').getAttribute('href')).toBe(url);
      expect(await page.locator('td.prompt b').count()).toBe(0);
      // a task without a trigger has no such line
      expect(await page.locator('td.prompt .trigger').count()).toBe(1);
    } finally {
      await page.evaluate("sessionStorage.removeItem('agentq.apiToken')");
      await page.close();
    }
  });

  it('refuses a wrong token and asks again', async () => {
    const page = await h.browser.newPage();
    try {
      await page.goto(`${h.base}/tasks`);
      await page.locator('#token').fill('not-a-token-of-this-agentq');
      await page.locator('#signin button[type=submit]').click();
      await page.locator('#problem', { hasText: 'not accepted' }).waitFor({ timeout: 20_000 });
      expect(await page.locator('#list').isHidden()).toBe(true);
      expect(await page.evaluate(STORED_TOKEN)).toBeNull();
    } finally {
      await page.close();
    }
  });
});
