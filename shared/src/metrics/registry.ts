import { Registry, collectDefaultMetrics } from 'prom-client';

/** A Prometheus registry with the process metrics, labelled with the service name. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'agentq_' });
  return registry;
}
