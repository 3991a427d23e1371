import { Counter, Gauge, type Registry } from 'prom-client';

export interface RelayGaugeSources {
  ownedTasks(): number;
  /** Events written to Redis but not yet delivered, over the tasks this relay owns. */
  lagEvents(): Promise<number>;
}

/** The log relay's Prometheus metrics. */
export class RelayMetrics {
  readonly eventsRelayed: Counter;
  readonly tasksFinished: Counter;
  readonly tasksTakenOver: Counter;
  readonly malformedEntries: Counter;
  readonly archiveUp: Gauge;
  readonly archiveFailures: Counter;
  private sources: RelayGaugeSources | undefined;
  private lastLag = 0;

  constructor(registry: Registry) {
    this.eventsRelayed = new Counter({
      name: 'agentq_relay_events_relayed_total',
      help: 'Task events delivered to the sinks.',
      registers: [registry],
    });
    this.tasksFinished = new Counter({
      name: 'agentq_relay_tasks_finished_total',
      help: 'Tasks whose transcript was completed and whose final record was written.',
      registers: [registry],
    });
    this.tasksTakenOver = new Counter({
      name: 'agentq_relay_tasks_taken_over_total',
      help: 'Tasks taken over from a relay that had been silent longer than the claim idle time.',
      registers: [registry],
    });
    this.malformedEntries = new Counter({
      name: 'agentq_relay_malformed_entries_total',
      help: 'Stream entries that could not be read and were acknowledged without delivery.',
      labelNames: ['stream'],
      registers: [registry],
    });
    this.archiveUp = new Gauge({
      name: 'agentq_relay_archive_up',
      help: 'Whether the transcript archive took the last write or check (1) or failed it (0); while 0, events wait in Redis.',
      registers: [registry],
    });
    this.archiveFailures = new Counter({
      name: 'agentq_relay_archive_failures_total',
      help: 'Failed calls to the transcript archive, by what was asked (append, finish, check); each is retried.',
      labelNames: ['op'],
      registers: [registry],
    });
    const owned: Gauge = new Gauge({
      name: 'agentq_relay_owned_tasks',
      help: 'Tasks this relay owns (follows) now.',
      registers: [registry],
      collect: () => {
        owned.set(this.sources?.ownedTasks() ?? 0);
      },
    });
    const lag: Gauge = new Gauge({
      name: 'agentq_relay_lag_events',
      help: 'Events written to Redis but not yet delivered to the sinks, summed over the owned tasks.',
      registers: [registry],
      collect: async () => {
        try {
          this.lastLag = (await this.sources?.lagEvents()) ?? 0;
        } catch {
          // Redis unreachable: keep the last value
        }
        lag.set(this.lastLag);
      },
    });
  }

  observe(sources: RelayGaugeSources): void {
    this.sources = sources;
  }
}
