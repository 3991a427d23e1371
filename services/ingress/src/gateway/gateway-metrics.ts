import { Counter, type Registry } from 'prom-client';

export interface GatewayMetrics {
  calls: Counter<'provider' | 'status'>;
  costUsd: Counter<'team'>;
  refusals: Counter<'provider' | 'reason'>;
}

function counter<T extends string>(registry: Registry, name: string, help: string, labelNames: T[]): Counter<T> {
  return (registry.getSingleMetric(name) as Counter<T> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

/** Model calls by provider and status, metered USD by team, and calls the gateway refused by reason. */
export function installGatewayMetrics(registry: Registry): GatewayMetrics {
  return {
    calls: counter(registry, 'agentq_gateway_calls_total', 'Model calls answered by the gateway, by provider and HTTP status (refusals included)', ['provider', 'status']),
    costUsd: counter(registry, 'agentq_gateway_cost_usd_total', 'USD of model calls metered by the gateway, by team', ['team']),
    refusals: counter(registry, 'agentq_gateway_refusals_total', 'Model calls the gateway answered itself without forwarding, by reason', ['provider', 'reason']),
  };
}
