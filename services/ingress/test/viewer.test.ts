import { newTaskId, viewerKey } from '@agentq/shared';
import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VIEWER_SECRET, auth, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

let redis: TestRedis;
let fx: IngressFixture;

beforeAll(async () => {
  redis = await startTestRedis();
});
afterAll(async () => {
  await redis.stop();
});
beforeEach(async () => {
  fx = await startIngress(redis.url);
});
afterEach(async () => {
  await fx.close();
});

async function create(prompt: string): Promise<{ id: string; viewerUrl: string }> {
  const res = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody({ prompt }) });
  return res.json();
}

describe('GET /tasks/:id (viewer)', () => {
  it('serves a self-contained page for the link in the 202, with the request escaped', async () => {
    const hostile = '</script><script>alert(1)</script><img src=x onerror=alert(2)> & "quotes"';
    const { id, viewerUrl } = await create(hostile);
    const path = new URL(viewerUrl).pathname + new URL(viewerUrl).search;
    const res = await fx.app.inject({ method: 'GET', url: path });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const html = res.body;
    expect(html).toContain(id);
    expect(html).toContain('new EventSource(');
    expect(html).not.toContain(hostile);
    expect(html).not.toMatch(/<img src=x/);
    expect(html.match(/<script/g)).toHaveLength(2);
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
    expect(html).not.toContain('innerHTML');
    expect(html).toContain('&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    // the nonce of the CSP is the one on the inline script and style
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain(`<style nonce="${nonce}">`);
  });

  it('refuses a wrong key with a 403 page', async () => {
    const { id } = await create('x');
    for (const query of [`?key=${viewerKey(VIEWER_SECRET, newTaskId())}`, '?key=', '']) {
      const res = await fx.app.inject({ method: 'GET', url: `/tasks/${id}${query}` });
      expect(res.statusCode, query).toBe(403);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.body).not.toContain('EventSource');
    }
  });

  it('answers 404 pages for unknown and malformed ids', async () => {
    const unknown = newTaskId();
    expect((await fx.app.inject({ method: 'GET', url: `/tasks/${unknown}?key=${viewerKey(VIEWER_SECRET, unknown)}` })).statusCode).toBe(404);
    expect((await fx.app.inject({ method: 'GET', url: '/tasks/nope?key=x' })).statusCode).toBe(404);
  });
});
