import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, taskBody } from './ingress-fixture.js';
import { hasChromium, startPageHarness, type PageHarness } from './page-harness.js';

const ADMIN = 'admin-token-for-tests-0123456789';

// Runs where Debian's chromium is installed (`apt-get install chromium`, as `.ci/run` does).
describe.skipIf(!hasChromium)('queue dashboard in a real browser', () => {
  let h: PageHarness;

  beforeAll(async () => {
    h = await startPageHarness({ env: { AGENTQ_ADMIN_TOKENS: ADMIN } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('asks a browser to sign in, then shows the task queue under its content security policy', async () => {
    const { id } = (await h.fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() })).json() as { id: string };
    const page = await h.browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      // the dashboard asks for web fonts elsewhere, which the policy refuses (system fonts are used)
      if (message.type() === 'error' && !message.text().includes('fonts.googleapis.com') && !message.location().url.endsWith('/favicon.ico')) problems.push(message.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));
    try {
      const first = await page.goto(`${h.base}/admin/queues`);
      expect(first?.status()).toBe(401);
      expect(await page.locator('body').textContent()).not.toContain(h.fx.queue.name);
      await page.locator('#token').fill(ADMIN);
      await page.locator('button[type=submit]').click();
      await page.waitForURL(`${h.base}/admin/queues`);
      // (the first answer, 401, is reported as an error; what follows must have none)
      problems.length = 0;
      // the queue, with its one job waiting by priority
      await page.getByText(h.fx.queue.name, { exact: true }).first().waitFor({ timeout: 20_000 });
      await page.goto(`${h.base}/admin/queues/queue/${h.fx.queue.name}?status=prioritized`);
      await page.getByText(id).first().waitFor({ timeout: 20_000 });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
