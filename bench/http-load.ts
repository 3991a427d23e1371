import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  /** Concurrent connections (each keeps one request in flight). */
  connections: number;
  durationSec: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** The status every answer must have; anything else fails the run. */
  expectStatus: number;
}

export interface LoadResult {
  /** Answers per second with the expected status. */
  perSec: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  total: number;
}

/** Drives `url` with autocannon for a fixed time; throws when any answer is not `expectStatus`. */
export async function httpLoad(options: LoadOptions): Promise<LoadResult> {
  let unexpected = 0;
  let lastStatus = 0;
  const result = await autocannon({
    url: options.url,
    connections: options.connections,
    duration: options.durationSec,
    method: options.method ?? 'GET',
    headers: options.headers,
    body: options.body,
    setupClient: (client) => {
      client.on('response', (statusCode: number) => {
        if (statusCode !== options.expectStatus) {
          unexpected++;
          lastStatus = statusCode;
        }
      });
    },
  });
  if (unexpected > 0 || result.errors > 0) {
    throw new Error(`${options.url}: ${unexpected} answers were not ${options.expectStatus} (last ${lastStatus}), ${result.errors} connection errors`);
  }
  const ok = result.requests.total - unexpected;
  return {
    perSec: ok / result.duration,
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    total: ok,
  };
}
