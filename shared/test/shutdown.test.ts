import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ShutdownManager } from '../src/index.js';
import { makeTempDir, waitFor } from '../src/testing/index.js';

const moduleUrl = (path: string) => pathToFileURL(join(import.meta.dirname, '../src', path)).href;

describe('ShutdownManager', () => {
  it('runs handlers once, newest first, within the deadline', async () => {
    const order: string[] = [];
    const manager = new ShutdownManager(pino({ level: 'silent' }), 500);
    manager.register('redis', () => void order.push('redis'));
    manager.register('hangs', () => new Promise<void>(() => {}));
    manager.register('server', async () => void order.push('server'));
    const started = Date.now();
    await Promise.all([manager.shutdown('test'), manager.shutdown('again')]);
    expect(order).toEqual(['server']);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(manager.isShuttingDown).toBe(true);
  });

  it('keeps going when a handler throws', async () => {
    const order: string[] = [];
    const manager = new ShutdownManager(pino({ level: 'silent' }), 1000);
    manager.register('a', () => void order.push('a'));
    manager.register('b', () => {
      throw new Error('nope');
    });
    await manager.shutdown('test');
    expect(order).toEqual(['a']);
  });
});

describe('ShutdownManager with a supervisor', () => {
  it('shuts down and exits when the supervisor is gone, its log lines pending in a closed pipe', async () => {
    const dir = await makeTempDir('agentq-shutdown-');
    const closed = join(dir.path, 'closed');
    const script = `
      const { writeFileSync } = await import('node:fs');
      const { ShutdownManager, createLogger } = await import(${JSON.stringify(moduleUrl('index.ts'))});
      const { supervisor } = await import(${JSON.stringify(moduleUrl('lifecycle/supervisor.ts'))});
      const logger = createLogger({ service: 'test' });
      const shutdown = new ShutdownManager(logger, 5000);
      shutdown.register('marker', () => writeFileSync(${JSON.stringify(closed)}, 'closed'));
      shutdown.installSignalHandlers(supervisor);
      logger.info('started');
      process.send('started');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    try {
      child.stdout?.resume();
      child.once('message', () => {
        child.stdout?.destroy();
        child.disconnect();
      });
      await waitFor(() => child.exitCode !== null, { timeoutMs: 30_000, what: 'the child to exit' });
      expect(child.exitCode).toBe(0);
      expect(existsSync(closed)).toBe(true);
    } finally {
      child.kill('SIGKILL');
      await dir.remove();
    }
  }, 40_000);
});
