import { Counter, type Registry } from 'prom-client';

/** Metrics of the Slack sink. */
export class SlackMetrics {
  /** Web API calls by method and outcome (`ok`, `platform_error`, `http_error`, `request_error`, `rate_limited`). */
  readonly calls: Counter;
  /** 429 answers seen (each one waited out as its Retry-After said). */
  readonly rateLimited: Counter;
  readonly summaries: Counter;
  /** Tasks whose Slack delivery stopped for good, by code. */
  readonly stopped: Counter;

  constructor(registry: Registry) {
    this.calls = new Counter({
      name: 'agentq_relay_slack_calls_total',
      help: 'Slack Web API calls by method and outcome.',
      labelNames: ['method', 'outcome'],
      registers: [registry],
    });
    this.rateLimited = new Counter({
      name: 'agentq_relay_slack_rate_limited_total',
      help: 'Slack answers 429 (rate limited) by method; each is retried after its Retry-After.',
      labelNames: ['method'],
      registers: [registry],
    });
    this.summaries = new Counter({
      name: 'agentq_relay_slack_summaries_delivered_total',
      help: 'Final task summaries posted to Slack.',
      registers: [registry],
    });
    this.stopped = new Counter({
      name: 'agentq_relay_slack_deliveries_stopped_total',
      help: 'Tasks whose Slack delivery stopped because Slack refused it for good, by code.',
      labelNames: ['code'],
      registers: [registry],
    });
  }
}
