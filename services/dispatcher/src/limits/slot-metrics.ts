import { Gauge, type Registry } from 'prom-client';
import type { SlotSnapshot } from '@agentq/shared';
import type { SlotLedger } from './slot-ledger.js';

/** One read of the ledger serves the gauges of one scrape. */
const STATS_TTL_MS = 250;

/**
 * The slot ledger's gauges, read from Redis at each scrape: pool-wide numbers, the same on every
 * dispatcher (aggregate with `max`, not `sum`). When Redis cannot be read the last values stay.
 */
export function registerSlotMetrics(registry: Registry, ledger: SlotLedger): void {
  let last: SlotSnapshot = { held: 0, teams: {}, holders: {}, waiting: {} };
  let read: { at: number; stats: Promise<SlotSnapshot> } | undefined;
  const stats = async (): Promise<SlotSnapshot> => {
    if (!read || Date.now() - read.at > STATS_TTL_MS) read = { at: Date.now(), stats: ledger.stats() };
    try {
      last = await read.stats;
    } catch {
      // Redis unreachable: keep the last values
    }
    return last;
  };
  const registers = [registry];
  const pool: Gauge = new Gauge({
    name: 'agentq_dispatcher_slots_in_use',
    help: 'Concurrency slots held in the whole dispatcher pool (live sandboxes, and slots taken or set aside for tasks about to create one).',
    registers,
    collect: async () => {
      pool.set((await stats()).held);
    },
  });
  const teams: Gauge<'team'> = new Gauge({
    name: 'agentq_dispatcher_team_slots_in_use',
    help: 'Concurrency slots held in the whole dispatcher pool, by team.',
    labelNames: ['team'],
    registers,
    collect: async () => {
      const now = await stats();
      teams.reset();
      for (const [team, n] of Object.entries(now.teams)) teams.set({ team }, n);
    },
  });
  const waiting: Gauge<'team' | 'reason'> = new Gauge({
    name: 'agentq_dispatcher_waiting_tasks',
    help: 'Queued tasks waiting to start, by team and reason: global, team or repo (a cap is reached), predecessor (a task it follows has not ended).',
    labelNames: ['team', 'reason'],
    registers,
    collect: async () => {
      const now = await stats();
      waiting.reset();
      for (const [team, reasons] of Object.entries(now.waiting)) {
        for (const [reason, n] of Object.entries(reasons)) waiting.set({ team, reason }, n);
      }
    },
  });
}
