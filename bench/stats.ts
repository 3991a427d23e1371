export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
}

export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), mean: sorted.reduce((a, b) => a + b, 0) / sorted.length };
}

export function median(values: readonly number[]): number {
  return percentiles(values).p50;
}

export const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
