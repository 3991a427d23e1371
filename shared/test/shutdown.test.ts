import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ShutdownManager } from '../src/index.js';

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
