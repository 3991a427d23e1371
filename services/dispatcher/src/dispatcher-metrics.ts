import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The dispatcher's own metrics, registered in the service's registry. */
export interface DispatcherMetrics {
  tasksStarted: Counter<'harness'>;
  tasksFinished: Counter<'outcome'>;
  taskDuration: Histogram<'outcome'>;
  runningTasks: Gauge;
  /** Sandboxes this dispatcher follows now, by provider. */
  sandboxesLive: Gauge<'provider'>;
  /** Time from a task's creation to the creation of its sandbox. */
  queueWait: Histogram;
  sandboxesAttached: Counter;
  handedOver: Counter;
  jobsDeferred: Counter;
}

export function createDispatcherMetrics(registry: Registry): DispatcherMetrics {
  const registers = [registry];
  return {
    tasksStarted: new Counter({
      name: 'agentq_dispatcher_tasks_started_total',
      help: 'Tasks this dispatcher launched a sandbox for.',
      labelNames: ['harness'],
      registers,
    }),
    tasksFinished: new Counter({
      name: 'agentq_dispatcher_tasks_finished_total',
      help: 'Tasks this dispatcher brought to a final state, by outcome.',
      labelNames: ['outcome'],
      registers,
    }),
    taskDuration: new Histogram({
      name: 'agentq_dispatcher_task_duration_seconds',
      help: 'Wall-clock time from the start of a task to its final state.',
      labelNames: ['outcome'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400],
      registers,
    }),
    runningTasks: new Gauge({
      name: 'agentq_dispatcher_running_tasks',
      help: 'Tasks this dispatcher is running now.',
      registers,
    }),
    sandboxesLive: new Gauge({
      name: 'agentq_dispatcher_sandboxes_live',
      help: 'Sandboxes this dispatcher supervises now, by provider.',
      labelNames: ['provider'],
      registers,
    }),
    queueWait: new Histogram({
      name: 'agentq_queue_wait_seconds',
      help: 'Time from the creation of a task to the creation of its sandbox.',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600],
      registers,
    }),
    sandboxesAttached: new Counter({
      name: 'agentq_dispatcher_sandboxes_attached_total',
      help: 'Sandboxes of earlier dispatchers this one re-attached to.',
      registers,
    }),
    handedOver: new Counter({
      name: 'agentq_dispatcher_tasks_handed_over_total',
      help: 'Running tasks handed back to the queue at shutdown, their sandboxes left running.',
      registers,
    }),
    jobsDeferred: new Counter({
      name: 'agentq_dispatcher_jobs_deferred_total',
      help: 'Times a queued task was put back for later because a task it must follow had not ended.',
      registers,
    }),
  };
}
