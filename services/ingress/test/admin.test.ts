import { startTestRedis, type TestRedis } from '@agentq/shared/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { auth, startIngress, taskBody, type IngressFixture } from './ingress-fixture.js';

const ADMIN = 'admin-token-for-tests-0123456789';
const OTHER_ADMIN = 'admin-token-for-tests-abcdefghij';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('the queue dashboard under /admin', () => {
  let redis: TestRedis;
  let fx: IngressFixture | undefined;

  beforeAll(async () => {
    redis = await startTestRedis();
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });
  afterAll(async () => {
    await redis.stop();
  });

  async function withTask(env: Record<string, string>): Promise<{ fx: IngressFixture; id: string }> {
    fx = await startIngress(redis.url, { env });
    const res = await fx.app.inject({ method: 'POST', url: '/v1/tasks', headers: auth(), payload: taskBody({ prompt: 'add a SECURITY.md' }) });
    expect(res.statusCode).toBe(202);
    return { fx, id: (res.json() as { id: string }).id };
  }

  it('is not there without admin tokens: 404 everywhere under /admin', async () => {
    fx = await startIngress(redis.url);
    for (const url of ['/admin', '/admin/queues', '/admin/queues/api/queues', '/admin/sign-in']) {
      const res = await fx.app.inject({ method: 'GET', url, headers: bearer(ADMIN) });
      expect(res.statusCode, url).toBe(404);
      expect(res.body).not.toContain('agentq-tasks');
    }
  });

  it('answers 401 without an admin token, with a wrong one and with an API token, and shows nothing of the queue', async () => {
    const { fx } = await withTask({ AGENTQ_ADMIN_TOKENS: ADMIN });
    const urls = ['/admin', '/admin/queues', '/admin/queues/api/queues', `/admin/queues/api/queues/${fx.queue.name}`, '/admin/queues/static/js/nothing.js', '/admin/whatever'];
    for (const headers of [{}, bearer('admin-token-for-tests-wrong-wrong'), auth(), { cookie: 'agentq_admin=9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }]) {
      for (const url of urls) {
        const res = await fx.app.inject({ method: 'GET', url, headers });
        expect(res.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.json()).toMatchObject({ error: { code: 'INGRESS_UNAUTHORIZED' } });
        expect(res.body).not.toContain(fx.queue.name);
      }
    }
    // a browser gets the sign-in form instead
    const page = await fx.app.inject({ method: 'GET', url: '/admin/queues', headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(401);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).toContain('<form');
    expect(page.body).not.toContain(fx.queue.name);
  });

  it('shows the queue and its jobs to an admin token through bull-board, and refuses every change in read-only mode', async () => {
    const { fx, id } = await withTask({ AGENTQ_ADMIN_TOKENS: `${OTHER_ADMIN},${ADMIN}` });
    const list = await fx.app.inject({ method: 'GET', url: '/admin/queues/api/queues?activeQueue=' + fx.queue.name + '&status=latest', headers: bearer(ADMIN) });
    expect(list.statusCode).toBe(200);
    const body = list.json() as { queues: { name: string; readOnlyMode: boolean; counts: Record<string, number>; jobs: { id: string; data: unknown }[] }[] };
    const queue = body.queues.find((q) => q.name === fx.queue.name);
    expect(queue).toBeDefined();
    expect(queue?.readOnlyMode).toBe(true);
    // tasks are queued with a priority
    expect(queue?.counts.prioritized).toBe(1);
    expect(queue?.jobs.map((job) => job.data)).toEqual([{ taskId: id }]);

    const page = await fx.app.inject({ method: 'GET', url: '/admin/queues', headers: bearer(ADMIN) });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('agentq queues');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['x-frame-options']).toBe('DENY');

    const [job] = await fx.queue.getJobs(['prioritized']);
    const base = `/admin/queues/api/queues/${fx.queue.name}`;
    for (const [method, url] of [
      ['PUT', `${base}/pause`],
      ['PUT', `${base}/empty`],
      ['PUT', `${base}/clean/prioritized`],
      ['PUT', `${base}/${job?.id ?? ''}/promote`],
      ['PUT', `${base}/${job?.id ?? ''}/clean`],
      ['PUT', `${base}/retry/failed`],
      ['PUT', `${base}/obliterate`],
      ['POST', `${base}/add`],
      ['PATCH', `${base}/${job?.id ?? ''}/update-data`],
    ] as const) {
      const res = await fx.app.inject({ method, url, headers: bearer(ADMIN), ...(method === 'PUT' ? {} : { payload: { name: 'x', data: {}, jobData: { taskId: 'x' } } }) });
      expect(res.statusCode, `${method} ${url}`).toBe(405);
    }
    // pausing every queue leaves read-only ones alone
    expect((await fx.app.inject({ method: 'PUT', url: '/admin/queues/api/queues/pause', headers: bearer(ADMIN) })).statusCode).toBe(200);
    expect(await fx.queue.isPaused()).toBe(false);
    expect(await fx.queue.getJobCounts('prioritized', 'waiting')).toEqual({ prioritized: 1, waiting: 0 });
    expect((await fx.queue.getJob(job?.id ?? ''))?.data).toEqual({ taskId: id });
  });

  it('lets an admin change the queue with AGENTQ_ADMIN_QUEUE_WRITE=true', async () => {
    const { fx } = await withTask({ AGENTQ_ADMIN_TOKENS: ADMIN, AGENTQ_ADMIN_QUEUE_WRITE: 'true' });
    const res = await fx.app.inject({ method: 'PUT', url: `/admin/queues/api/queues/${fx.queue.name}/pause`, headers: bearer(ADMIN) });
    expect(res.statusCode).toBe(200);
    expect(await fx.queue.isPaused()).toBe(true);
  });

  it('signs a browser in with the form: an HttpOnly, SameSite=Strict cookie without the token, Secure on https; sign-out ends it', async () => {
    const { fx } = await withTask({ AGENTQ_ADMIN_TOKENS: ADMIN, AGENTQ_PUBLIC_URL: 'https://agentq.example.com' });
    const form = await fx.app.inject({ method: 'GET', url: '/admin/sign-in' });
    expect(form.statusCode).toBe(200);
    expect(form.headers['content-security-policy']).toContain("form-action 'self'");

    const wrong = await fx.app.inject({ method: 'POST', url: '/admin/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'token=nope-nope-nope-nope-nope-nope' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();

    const signIn = await fx.app.inject({ method: 'POST', url: '/admin/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${encodeURIComponent(ADMIN)}` });
    expect(signIn.statusCode).toBe(303);
    expect(signIn.headers.location).toBe('/admin/queues');
    const setCookie = String(signIn.headers['set-cookie']);
    expect(setCookie).toMatch(/^agentq_admin=\d+\.[A-Za-z0-9_-]{43}; Path=\/admin; Max-Age=43200; HttpOnly; SameSite=Strict; Secure$/);
    expect(setCookie).not.toContain(ADMIN);
    const cookie = setCookie.split(';')[0] ?? '';

    const api = await fx.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } });
    expect(api.statusCode).toBe(200);
    expect(api.body).toContain(fx.queue.name);
    // a cookie for the token, changed by one character, is refused
    const forged = cookie.slice(0, -1) + (cookie.endsWith('A') ? 'B' : 'A');
    expect((await fx.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie: forged } })).statusCode).toBe(401);

    const signOut = await fx.app.inject({ method: 'POST', url: '/admin/sign-out', headers: { cookie } });
    expect(signOut.statusCode).toBe(303);
    expect(String(signOut.headers['set-cookie'])).toMatch(/^agentq_admin=; Path=\/admin; Max-Age=0;/);
  });

  it('takes no cookie of a token no longer configured', async () => {
    const first = await withTask({ AGENTQ_ADMIN_TOKENS: ADMIN, AGENTQ_PUBLIC_URL: 'http://agentq.test' });
    const signIn = await first.fx.app.inject({ method: 'POST', url: '/admin/sign-in', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `token=${ADMIN}` });
    const cookie = String(signIn.headers['set-cookie']).split(';')[0] ?? '';
    expect(String(signIn.headers['set-cookie'])).not.toContain('Secure');
    expect((await first.fx.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } })).statusCode).toBe(200);
    await first.fx.close();
    fx = await startIngress(redis.url, { env: { AGENTQ_ADMIN_TOKENS: OTHER_ADMIN } });
    expect((await fx.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { cookie } })).statusCode).toBe(401);
  });
});
