import { errorMessage, recordSpend, type GatewayGrant, type Logger, type RedisKeys, type TaskStore } from '@agentq/shared';
import type { Redis } from 'ioredis';
import type { GatewayMetrics } from './gateway-metrics.js';
import { costOf, type PriceTable } from './model-prices.js';
import type { MeteredCall } from './usage-meter.js';

export interface UsageRecorderDeps {
  redis: Redis;
  keys: RedisKeys;
  store: TaskStore;
  prices: PriceTable;
  metrics: GatewayMetrics;
  logger: Logger;
}

/** Prices a metered call, adds it to the task's and team's spend and appends an `agent.usage` event. */
export class UsageRecorder {
  private readonly unpriced = new Set<string>();

  constructor(private readonly deps: UsageRecorderDeps) {}

  async record(grant: GatewayGrant, call: MeteredCall): Promise<void> {
    const { redis, keys, store, prices, metrics } = this.deps;
    const model = call.model ?? 'unknown';
    let price = prices.find(model);
    if (!price) {
      price = prices.fallback;
      if (!this.unpriced.has(model)) {
        this.unpriced.add(model);
        this.deps.logger.warn({ model, price }, 'model not in the price table: priced at AGENTQ_MODEL_DEFAULT_PRICE');
      }
    }
    const usd = costOf(call.usage, price);
    try {
      const { taskUsd } = await recordSpend(redis, keys, { taskId: grant.taskId, team: grant.team, usd, at: new Date() });
      metrics.costUsd.inc({ team: grant.team }, usd);
      const { input, output, cacheRead, cacheWrite } = call.usage;
      await store.append(grant.taskId, [
        { kind: 'agent.usage', inputTokens: input, outputTokens: output, cacheReadTokens: cacheRead, cacheWriteTokens: cacheWrite, costUsd: taskUsd },
      ]);
    } catch (err) {
      this.deps.logger.error({ code: 'INGRESS_GATEWAY_METERING_FAILED', taskId: grant.taskId, model, usd, cause: errorMessage(err) }, 'model call not metered');
    }
  }
}
