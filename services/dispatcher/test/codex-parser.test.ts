import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentEventSchema } from '@agentq/shared';
import { describe, expect, it } from 'vitest';
import { CodexParser } from '../src/harnesses/codex-parser.js';

const lines = readFileSync(join(import.meta.dirname, 'fixtures', 'codex-exec-write.jsonl'), 'utf8').split('\n');

describe('CodexParser', () => {
  it('maps a real `codex exec --json` transcript to normalized events', () => {
    const parser = new CodexParser();
    const events = lines.flatMap((line) => parser.parseLine(line));
    expect(events.map((e) => e.kind)).toEqual([
      'agent.init',
      'log',
      'raw',
      'agent.tool_call',
      'agent.tool_result',
      'agent.message',
      'agent.usage',
      'agent.result',
    ]);
    expect(events[0]).toMatchObject({ kind: 'agent.init', sessionId: '01a224eb-04fc-7330-9048-f8e8095a0e08' });
    expect(events[1]).toMatchObject({ kind: 'log', stream: 'output', text: expect.stringContaining('Model metadata for `gpt-fake` not found') });
    expect(events[3]).toMatchObject({
      kind: 'agent.tool_call',
      id: 'item_1',
      name: 'exec_command',
      input: { command: `/bin/bash -lc "printf '# Note\\\\n\\\\nWritten by codex.\\\\n' > CODEX_NOTE.md && ls"` },
    });
    expect(events[4]).toMatchObject({ kind: 'agent.tool_result', id: 'item_1', ok: true, output: 'CODEX_NOTE.md\n', truncated: false });
    expect(events[5]).toMatchObject({ kind: 'agent.message', text: 'Created CODEX_NOTE.md.' });
    expect(events[6]).toEqual(expect.objectContaining({ kind: 'agent.usage', inputTokens: 1800, outputTokens: 80, cacheReadTokens: 0, cacheWriteTokens: 0 }));
    const result = events[7];
    expect(result).toMatchObject({
      kind: 'agent.result',
      success: true,
      turns: 1,
      summary: 'Created CODEX_NOTE.md.',
      sessionId: '01a224eb-04fc-7330-9048-f8e8095a0e08',
    });
    expect(result && 'costUsd' in result ? result.costUsd : undefined).toBeUndefined();
    // every line is kept verbatim on the first event made from it
    expect(events.filter((e) => e.raw !== undefined).map((e) => e.raw)).toEqual(lines.filter((l) => l.trim()));
    // and every event is valid once stamped
    for (const [i, e] of events.entries()) {
      expect(agentEventSchema.safeParse({ ...e, v: 1, taskId: 't', seq: i + 1, ts: new Date(0).toISOString() }).success).toBe(true);
    }
  });

  it('never throws on malformed lines: text becomes log, other JSON raw, blank nothing', () => {
    const parser = new CodexParser();
    const inputs = [
      'not json at all',
      '{"type":',
      '[1,2,3]',
      '42',
      'null',
      '',
      '   ',
      '{"no_type":true}',
      '{"type":"item.completed"}',
      '{"type":"item.completed","item":"x"}',
      '{"type":"item.completed","item":{"type":"command_execution"}}',
      '{"type":"item.started","item":{"type":"agent_message","text":"partial"}}',
      '{"type":"item.updated","item":{"id":"i","type":"todo_list","items":[]}}',
      '{"type":"item.completed","item":{"id":"r","type":"reasoning","text":"thinking"}}',
      '{"type":"turn.completed","usage":"lots"}',
      '{"type":"thread.started","thread_id":7}',
      '{"type":"something.new","x":1}',
    ];
    const out = inputs.map((line) => parser.parseLine(line));
    expect(out[0]).toEqual([{ kind: 'log', stream: 'output', text: 'not json at all' }]);
    expect(out[1]).toEqual([{ kind: 'log', stream: 'output', text: '{"type":' }]);
    expect(out[2]?.[0]?.kind).toBe('log');
    expect(out[3]?.[0]?.kind).toBe('log');
    expect(out[4]?.[0]?.kind).toBe('log');
    expect(out[5]).toEqual([]);
    expect(out[6]).toEqual([]);
    expect(out[7]).toEqual([{ kind: 'raw', raw: '{"no_type":true}' }]);
    expect(out[8]?.map((e) => e.kind)).toEqual(['raw']);
    expect(out[9]?.map((e) => e.kind)).toEqual(['raw']);
    // a command with no id, command or exit code still gives a call and a failed result
    expect(out[10]).toMatchObject([
      { kind: 'agent.tool_call', name: 'exec_command', input: { command: '' } },
      { kind: 'agent.tool_result', ok: false, output: '' },
    ]);
    expect(out[11]?.map((e) => e.kind)).toEqual(['raw']);
    expect(out[12]?.map((e) => e.kind)).toEqual(['raw']);
    expect(out[13]?.map((e) => e.kind)).toEqual(['raw']);
    expect(out[14]).toMatchObject([{ kind: 'agent.result', success: true, turns: 1 }]);
    expect(out[15]).toMatchObject([{ kind: 'agent.init', sessionId: undefined }]);
    expect(out[16]).toEqual([{ kind: 'raw', raw: '{"type":"something.new","x":1}' }]);
  });

  it('ends unsuccessfully with the message on turn.failed and error, and counts turns', () => {
    const parser = new CodexParser();
    parser.parseLine('{"type":"thread.started","thread_id":"th-1"}');
    expect(parser.parseLine('{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":2}}').at(-1)).toMatchObject({ kind: 'agent.result', success: true, turns: 1 });
    expect(parser.parseLine('{"type":"error","message":"stream disconnected before completion"}')).toMatchObject([
      { kind: 'agent.result', success: false, summary: 'stream disconnected before completion', turns: 1, sessionId: 'th-1' },
    ]);
    expect(parser.parseLine('{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized"}}')).toMatchObject([
      { kind: 'agent.result', success: false, summary: 'unexpected status 401 Unauthorized', turns: 2 },
    ]);
    expect(parser.parseLine('{"type":"turn.failed"}')).toMatchObject([{ kind: 'agent.result', success: false, summary: 'the turn failed', turns: 3 }]);
  });

  it('maps file changes and MCP tool calls, a completion without its start, and truncates long output', () => {
    const parser = new CodexParser();
    expect(parser.parseLine('{"type":"item.completed","item":{"id":"f","type":"file_change","changes":[{"path":"a.md","kind":"add"},{"path":"b.md","kind":"update"}],"status":"completed"}}')).toMatchObject([
      { kind: 'agent.tool_call', id: 'f', name: 'file_change', input: { changes: [{ path: 'a.md', kind: 'add' }, { path: 'b.md', kind: 'update' }] } },
      { kind: 'agent.tool_result', id: 'f', ok: true, output: 'add a.md\nupdate b.md' },
    ]);
    expect(parser.parseLine('{"type":"item.started","item":{"id":"m","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{"q":"x"},"status":"in_progress"}}')).toMatchObject([
      { kind: 'agent.tool_call', id: 'm', name: 'docs.search', input: { q: 'x' } },
    ]);
    expect(parser.parseLine('{"type":"item.completed","item":{"id":"m","type":"mcp_tool_call","server":"docs","tool":"search","arguments":{"q":"x"},"error":{"message":"no such tool"},"status":"failed"}}')).toMatchObject([
      { kind: 'agent.tool_result', id: 'm', ok: false, output: 'no such tool' },
    ]);
    const big = 'y'.repeat(10_000);
    const [result] = parser.parseLine(JSON.stringify({ type: 'item.completed', item: { id: 'c', type: 'command_execution', command: 'yes', aggregated_output: big, exit_code: 1, status: 'failed' } })).slice(-1);
    expect(result).toMatchObject({ kind: 'agent.tool_result', ok: false, truncated: true });
    expect(result && 'output' in result ? result.output.length : 0).toBeLessThan(5000);
  });
});
