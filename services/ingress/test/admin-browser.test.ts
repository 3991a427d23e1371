import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN = 'admin-token-for-tests-0123456789';

// Runs where Debian's chromium is installed (`apt-get install chromium`), as the design's page tests do.
describe.skipIf(!existsSync(CHROMIUM))('queue dashboard in a real browser', () => {
  let redis: TestRedis;
  let fx: IngressFixture;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    redis = await startTestRedis();
    fx = await startIngress(redis.url, { env: { AGENTQ_ADMIN_TOKENS: ADMIN } });
    base = await fx.listen();
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  });
  afterAll(async () => {
    await browser?.close();
    await fx.close();
    await redis.stop();
  });

  it('asks a browser to sign in, then shows the task queue under its content security policy', async () => {
    const { id } = (await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody() })).json() as { id: string };
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      // the dashboard asks for web fonts elsewhere, which the policy refuses (system fonts are used)
      if (message.type() === 'error' && !message.text().includes('fonts.googleapis.com') && !message.location().url.endsWith('/favicon.ico')) problems.push(message.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));
    try {
      const first = await page.goto(`${base}/admin/queues`);
      expect(first?.status()).toBe(401);
      expect(await page.locator('body').textContent()).not.toContain(fx.queue.name);
      await page.locator('#token').fill(ADMIN);
      await page.locator('button[type=submit]').click();
      await page.waitForURL(`${base}/admin/queues`);
      // (the first answer, 401, is reported as an error; what follows must have none)
      problems.length = 0;
      // the queue, with its one job waiting by priority
      await page.getByText(fx.queue.name, { exact: true }).first().waitFor({ timeout: 20_000 });
      await page.goto(`${base}/admin/queues/queue/${fx.queue.name}?status=prioritized`);
      await page.getByText(id).first().waitFor({ timeout: 20_000 });
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
