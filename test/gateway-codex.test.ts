import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys, type AgentEvent, type TaskRecord } from '@agentq/shared';
import { FakeModelApi, waitFor, type ModelApiCall, type ScriptedAnswer } from '@agentq/shared/testing';
import { startStack, type Stack } from './support/stack.js';

// The real Codex CLI (`codex exec --json`) in an isolated local sandbox, reaching OpenAI's
// Responses API only through the ingress's model gateway, with a fake Responses API upstream.

const ROOT = join(import.meta.dirname, '..');
const CODEX_BIN = join(ROOT, 'node_modules', '.bin', 'codex');
/** The native program the `codex` script starts (a package of its own). */
const CODEX_NATIVE = join(ROOT, 'node_modules', '@openai', 'codex-linux-x64');
const REAL_KEY = 'sk-proj-the-platforms-real-openai-key-0123456789';
const ANSWER = 'Nothing to change: the repository already says hello.';

/** A Responses API stream as OpenAI sends it: one assistant message, then the usage. */
function responsesStream(model: string): string[] {
  const event = (data: Record<string, unknown>) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
  const message = { id: 'msg_1', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: ANSWER, annotations: [] }] };
  const response = { id: 'resp_1', object: 'response', created_at: 1, model, status: 'in_progress', output: [] as unknown[] };
  let seq = 0;
  return [
    event({ type: 'response.created', sequence_number: seq++, response }),
    event({ type: 'response.output_item.added', sequence_number: seq++, output_index: 0, item: { ...message, status: 'in_progress', content: [] } }),
    event({ type: 'response.content_part.added', sequence_number: seq++, item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }),
    event({ type: 'response.output_text.delta', sequence_number: seq++, item_id: 'msg_1', output_index: 0, content_index: 0, delta: ANSWER }),
    event({ type: 'response.output_text.done', sequence_number: seq++, item_id: 'msg_1', output_index: 0, content_index: 0, text: ANSWER }),
    event({ type: 'response.content_part.done', sequence_number: seq++, item_id: 'msg_1', output_index: 0, content_index: 0, part: message.content[0] }),
    event({ type: 'response.output_item.done', sequence_number: seq++, output_index: 0, item: message }),
    event({
      type: 'response.completed',
      sequence_number: seq,
      response: {
        ...response,
        status: 'completed',
        output: [message],
        usage: { input_tokens: 12_000, input_tokens_details: { cached_tokens: 2_000 }, output_tokens: 300, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 12_300 },
      },
    }),
  ];
}

function answer(call: ModelApiCall): ScriptedAnswer {
  let model = 'gpt-5';
  try {
    model = String((JSON.parse(call.body) as { model?: string }).model ?? model);
  } catch {
    // not JSON: answer anyway
  }
  return { headers: { 'content-type': 'text/event-stream' }, chunks: responsesStream(model) };
}

/** Every file under a directory, as text. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat?.isDirectory()) return filesUnder(path);
    return stat?.isFile() ? [readFileSync(path, 'latin1')] : [];
  });
}

describe('the model gateway with the real Codex CLI', () => {
  let upstream: FakeModelApi;
  let stack: Stack;

  beforeAll(async () => {
    upstream = new FakeModelApi();
    upstream.answer = answer;
    const url = await upstream.start();
    stack = await startStack({
      OPENAI_API_KEY: REAL_KEY,
      OPENAI_BASE_URL: `${url}/v1`,
      AGENTQ_HARNESS: 'codex',
      // the CLI of this repository's node_modules: on PATH for the harness, shown to the isolated agent
      PATH: `${dirname(CODEX_BIN)}:${process.env.PATH ?? ''}`,
      AGENTQ_LOCAL_READ_PATHS: `${CODEX_BIN},${realpathSync(CODEX_BIN)},${CODEX_NATIVE}`,
      AGENTQ_LOCAL_ISOLATION: 'bwrap',
    });
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
    await upstream?.stop();
  });

  it('runs a task whose every model call goes through the gateway with the real key, metered', async () => {
    const res = await stack.api('/v1/tasks', { method: 'POST', body: JSON.stringify({ repo: 'demo/hello', prompt: 'check the greeting' }) });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const task = await waitFor(
      async () => {
        const record = (await (await stack.api(`/v1/tasks/${id}`)).json()) as TaskRecord;
        return ['succeeded', 'failed', 'canceled', 'timed_out'].includes(record.state) ? record : undefined;
      },
      { timeoutMs: 90_000, what: `task ${id} to end` },
    );
    const text = await (await stack.api(`/v1/tasks/${id}/events?format=jsonl`)).text();
    const events = text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as AgentEvent);
    expect(task.state, `${JSON.stringify(task.error)}\n${stack.logs().slice(-2000)}`).toBe('succeeded');
    expect(events.some((e) => e.kind === 'agent.message' && e.text === ANSWER)).toBe(true);

    // Codex called the Responses API, through the gateway: upstream saw the real key only
    expect(upstream.calls.length).toBeGreaterThan(0);
    for (const call of upstream.calls) {
      expect(call.url).toBe('/v1/responses');
      expect(call.headers.authorization).toBe(`Bearer ${REAL_KEY}`);
    }
    // metered from response.completed, with the running cost in an agent.usage event
    const redis = new Redis(stack.env.REDIS_URL as string);
    try {
      expect(Number(await redis.get(redisKeys(stack.env.AGENTQ_REDIS_PREFIX as string).taskSpend(id)))).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
    }
    expect(events.some((e) => e.kind === 'agent.usage' && (e.costUsd ?? 0) > 0)).toBe(true);
    // the real key reached no sandbox file, transcript or log
    for (const content of [...filesUnder(join(stack.dataDir, 'sandboxes', id)), text, stack.logs()]) expect(content).not.toContain(REAL_KEY);
  }, 120_000);
});
