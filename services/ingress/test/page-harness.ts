import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { startIngress, type FixtureOptions, type IngressFixture } from './ingress-fixture.js';

/** Debian's chromium (`apt-get install chromium`, as `.ci/run` does): the page tests never download a browser. */
export const CHROMIUM = '/usr/bin/chromium';
/** The page tests run where that chromium is installed. */
export const hasChromium = existsSync(CHROMIUM);

export interface PageHarness {
  redis: TestRedis;
  fx: IngressFixture;
  /** Where the ingress listens (loopback). */
  base: string;
  browser: Browser;
  close(): Promise<void>;
}

/** A real Redis, an ingress listening on loopback, and headless chromium, for the tests of the web pages. */
export async function startPageHarness(options: FixtureOptions = {}): Promise<PageHarness> {
  const redis = await startTestRedis();
  const fx = await startIngress(redis.url, options);
  const base = await fx.listen();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
  return {
    redis,
    fx,
    base,
    browser,
    close: async () => {
      await browser.close();
      await fx.close();
      await redis.stop();
    },
  };
}
