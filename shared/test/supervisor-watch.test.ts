import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SupervisorWatch } from '../src/index.js';
import { waitFor } from '../src/testing/index.js';

/** The part of `process` the watch uses, with a channel the test closes. */
class ChannelProcess extends EventEmitter {
  connected = true;
  readonly exits: (number | undefined)[] = [];
  readonly send: (() => void) | undefined;
  constructor(supervised = true) {
    super();
    this.send = supervised ? () => {} : undefined;
  }
  close(): void {
    this.connected = false;
    this.emit('disconnect');
  }
  exit(code?: number): void {
    this.exits.push(code);
  }
}

const SUPERVISOR_MODULE = pathToFileURL(join(import.meta.dirname, '../src/lifecycle/supervisor.ts')).href;

describe('SupervisorWatch', () => {
  it('ends the process once when the supervisor\'s channel closes', () => {
    const proc = new ChannelProcess();
    const watch = new SupervisorWatch(proc).start().start();
    expect(watch.supervised).toBe(true);
    expect(proc.exits).toEqual([]);
    proc.close();
    proc.close();
    expect(proc.exits).toEqual([0]);
    expect(watch.gone).toBe(true);
  });

  it('ends the process at once when the channel closed before the watch started', () => {
    const proc = new ChannelProcess();
    proc.close();
    new SupervisorWatch(proc).start();
    expect(proc.exits).toEqual([0]);
  });

  it('hands a supervisor gone to the handler it was given, at once when it is gone already', () => {
    const proc = new ChannelProcess();
    const watch = new SupervisorWatch(proc).start();
    const calls: string[] = [];
    watch.onGone(() => calls.push('first'));
    proc.close();
    watch.onGone(() => calls.push('second'));
    expect(calls).toEqual(['first', 'second']);
    expect(proc.exits).toEqual([]);
  });

  it('watches nothing in a process started without a channel', () => {
    const proc = new ChannelProcess(false);
    const watch = new SupervisorWatch(proc).start();
    proc.close();
    expect(watch.supervised).toBe(false);
    expect(watch.gone).toBe(false);
    expect(proc.exits).toEqual([]);
  });

  it('ends a real process whose supervisor was gone before its modules were evaluated', async () => {
    // the child waits until it knows its channel closed, and only then evaluates the watch
    const script = `
      process.send('started');
      setInterval(() => {}, 1000);
      await new Promise((resolve) => { const poll = setInterval(() => { if (!process.connected) resolve(clearInterval(poll)); }, 5); });
      await import(${JSON.stringify(SUPERVISOR_MODULE)});
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    try {
      child.once('message', () => child.disconnect());
      await waitFor(() => child.exitCode !== null, { timeoutMs: 30_000, what: 'the child to exit' });
      expect(child.exitCode).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);
});
