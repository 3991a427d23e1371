import type { FastifyInstance } from 'fastify';
import type { JobType, Queue } from 'bullmq';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface IngressMetrics {
  tasksCreated: Counter<'team'>;
}

function counter<T extends string>(registry: Registry, name: string, help: string, labelNames: T[]): Counter<T> {
  return (registry.getSingleMetric(name) as Counter<T> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

function histogram<T extends string>(registry: Registry, name: string, help: string, labelNames: T[]): Histogram<T> {
  return (
    (registry.getSingleMetric(name) as Histogram<T> | undefined) ??
    new Histogram({ name, help, labelNames, registers: [registry], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] })
  );
}

/** A gauge read from BullMQ's job counts when scraped; no sample while Redis is unreachable. */
function queueGauge(registry: Registry, queue: Queue, name: string, help: string, states: JobType[]): void {
  if (registry.getSingleMetric(name)) return;
  const gauge: Gauge<'queue'> = new Gauge({
    name,
    help,
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      gauge.reset();
      try {
        const counts = await queue.getJobCounts(...states);
        gauge.set({ queue: queue.name }, states.reduce((sum, state) => sum + (counts[state] ?? 0), 0));
      } catch {
        // Redis unreachable: no sample rather than a wrong one
      }
    },
  });
}

/** Request counts and latencies by route template and status, the tasks accepted, and queue depth. */
export function installIngressMetrics(app: FastifyInstance, registry: Registry, queue: Queue): IngressMetrics {
  // queue depth: the signal to scale dispatchers on
  queueGauge(registry, queue, 'agentq_queue_waiting', 'Tasks waiting for a dispatcher', ['wait', 'prioritized']);
  queueGauge(registry, queue, 'agentq_queue_active', 'Tasks being run by a dispatcher', ['active']);
  const requests = counter(registry, 'agentq_http_requests_total', 'HTTP requests answered', ['method', 'route', 'status']);
  const duration = histogram(registry, 'agentq_http_request_duration_seconds', 'HTTP request duration', ['method', 'route', 'status']);
  const tasksCreated = counter(registry, 'agentq_tasks_created_total', 'Tasks accepted (202)', ['team']);

  // the labelled series of each method, route and status, looked up once (prom-client hashes the
  // labels on every call otherwise)
  const series = new Map<string, { count: { inc(): void }; time: { observe(value: number): void } }>();
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const id = `${request.method} ${reply.statusCode} ${route}`;
    let found = series.get(id);
    if (!found) {
      const labels = { method: request.method, route, status: String(reply.statusCode) };
      found = { count: requests.labels(labels), time: duration.labels(labels) };
      series.set(id, found);
    }
    found.count.inc();
    found.time.observe(reply.elapsedTime / 1000);
    done();
  });
  return { tasksCreated };
}

export interface StreamMetrics {
  refused: Counter<'cap'>;
  tooSlow: Counter;
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  if (registry.getSingleMetric(name)) return;
  const g: Gauge = new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      g.set(read());
    },
  });
}

/** Live event streams: open, tasks followed, refused by cap, cut off for reading too slowly. */
export function installStreamMetrics(registry: Registry, read: { open: () => number; followed: () => number }): StreamMetrics {
  gauge(registry, 'agentq_sse_streams_open', 'Live event streams (SSE) open', read.open);
  gauge(registry, 'agentq_sse_tasks_followed', 'Tasks whose event stream is read live for the open streams', read.followed);
  return {
    refused: counter(registry, 'agentq_sse_streams_refused_total', 'Live event streams refused with 429, by the cap reached', ['cap']),
    tooSlow: counter(registry, 'agentq_sse_streams_too_slow_total', 'Live event streams disconnected because their client fell too far behind', []),
  };
}
