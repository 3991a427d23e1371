import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StreamJsonParser } from '../src/harnesses/stream-json-parser.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8').split('\n');

describe('StreamJsonParser', () => {
  it('maps a real Claude Code transcript to normalized events', () => {
    const parser = new StreamJsonParser();
    const events = fixture('bash-then-write.jsonl').flatMap((line) => parser.parseLine(line));
    expect(events.map((e) => e.kind)).toEqual([
      'agent.init',
      'agent.message',
      'agent.usage',
      'agent.tool_call',
      'agent.tool_result',
      'agent.tool_call',
      'agent.usage',
      'agent.tool_result',
      'agent.message',
      'agent.usage',
      'agent.result',
    ]);
    expect(events[0]).toMatchObject({ kind: 'agent.init', sessionId: '93afc9fe-9ef4-4837-9259-5f19d33a2774', model: 'claude-opus-5-5' });
    expect(events[3]).toMatchObject({ kind: 'agent.tool_call', name: 'Bash', input: { command: 'ls -la && git status --short' } });
    expect(events[4]).toMatchObject({ kind: 'agent.tool_result', id: 'toolu_1', ok: true });
    expect(events.at(-1)).toMatchObject({ kind: 'agent.result', success: true, costUsd: 0.018000000000000002 });
    expect(events.filter((e) => e.raw !== undefined)).toHaveLength(fixture('bash-then-write.jsonl').filter((l) => l.trim()).length);
  });

  it('reads the result line whatever the key order', () => {
    const parser = new StreamJsonParser();
    const [event] = parser.parseLine('{"num_turns":3,"result":"ok","total_cost_usd":0.5,"subtype":"success","is_error":false,"type":"result","session_id":"s"}');
    expect(event).toMatchObject({ kind: 'agent.result', success: true, turns: 3, costUsd: 0.5, summary: 'ok', sessionId: 's' });
  });

  it('reports an error result as unsuccessful with its text', () => {
    const parser = new StreamJsonParser();
    const [event] = parser.parseLine('{"type":"result","subtype":"success","is_error":true,"result":"API Error: 401 invalid x-api-key","num_turns":1}');
    expect(event).toMatchObject({ kind: 'agent.result', success: false, summary: 'API Error: 401 invalid x-api-key' });
  });

  it('passes unknown types through and never throws on bad lines', () => {
    const parser = new StreamJsonParser();
    expect(parser.parseLine('{"type":"stream_event","x":1}')).toEqual([{ kind: 'raw', raw: '{"type":"stream_event","x":1}' }]);
    expect(parser.parseLine('not json {')).toEqual([{ kind: 'log', stream: 'output', text: 'not json {' }]);
    expect(parser.parseLine('[1,2]')).toEqual([{ kind: 'log', stream: 'output', text: '[1,2]' }]);
    expect(parser.parseLine('{"type":"assistant","message":null}')).toEqual([{ kind: 'raw', raw: '{"type":"assistant","message":null}' }]);
    expect(parser.parseLine('   ')).toEqual([]);
  });
});
