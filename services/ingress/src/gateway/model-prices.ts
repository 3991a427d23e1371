import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ingressError } from '../http/ingress-errors.js';

/** USD per million tokens of one model. */
export interface ModelPrice {
  input: number;
  output: number;
  /** Cached input read; missing: the input price. */
  cacheRead?: number;
  /** Cached input written (Anthropic's 5-minute cache); missing: 1.25 × the input price. */
  cacheWrite?: number;
}

/**
 * The built-in prices, USD per million tokens, as the providers list them. Dated and suffixed ids
 * (`claude-sonnet-4-5-20250929`, `gpt-5-2025-08-07`) take the price of their longest known prefix.
 */
export const BUILT_IN_PRICES: Readonly<Record<string, ModelPrice>> = {
  // Anthropic
  'claude-opus-4-5': { input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25 },
  'claude-opus-4-1': { input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75 },
  'claude-opus-4': { input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75 },
  'claude-sonnet-4-5': { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  'claude-sonnet-4': { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  'claude-haiku-4-5': { input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25 },
  'claude-3-7-sonnet': { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  'claude-3-5-sonnet': { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 },
  'claude-3-5-haiku': { input: 0.8, output: 4, cacheRead: 0.08, cacheWrite: 1 },
  'claude-3-opus': { input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75 },
  'claude-3-haiku': { input: 0.25, output: 1.25, cacheRead: 0.03, cacheWrite: 0.3 },
  // OpenAI
  'gpt-5.1': { input: 1.25, output: 10, cacheRead: 0.125 },
  'gpt-5.1-codex': { input: 1.25, output: 10, cacheRead: 0.125 },
  'gpt-5.1-codex-mini': { input: 0.25, output: 2, cacheRead: 0.025 },
  'gpt-5': { input: 1.25, output: 10, cacheRead: 0.125 },
  'gpt-5-codex': { input: 1.25, output: 10, cacheRead: 0.125 },
  'gpt-5-mini': { input: 0.25, output: 2, cacheRead: 0.025 },
  'gpt-5-nano': { input: 0.05, output: 0.4, cacheRead: 0.005 },
  'gpt-5-pro': { input: 15, output: 120 },
  'gpt-4.1': { input: 2, output: 8, cacheRead: 0.5 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, cacheRead: 0.1 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, cacheRead: 0.025 },
  'gpt-4o': { input: 2.5, output: 10, cacheRead: 1.25 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cacheRead: 0.075 },
  o3: { input: 2, output: 8, cacheRead: 0.5 },
  'o3-pro': { input: 20, output: 80 },
  'o3-mini': { input: 1.1, output: 4.4, cacheRead: 0.55 },
  'o4-mini': { input: 1.1, output: 4.4, cacheRead: 0.275 },
  o1: { input: 15, output: 60, cacheRead: 7.5 },
  'o1-mini': { input: 1.1, output: 4.4, cacheRead: 0.55 },
  'codex-mini-latest': { input: 1.5, output: 6, cacheRead: 0.375 },
};

const usd = z.number().finite().min(0);
const pricesFileSchema = z.record(
  z.string().min(1),
  z.strictObject({ input: usd, output: usd, cacheRead: usd.optional(), cacheWrite: usd.optional() }),
);

/** Reads `AGENTQ_MODEL_PRICES` (JSON or YAML); any problem is an `INGRESS_GATEWAY_PRICES_INVALID` naming the file. */
export function readPricesFile(path: string): Record<string, ModelPrice> {
  let parsed: unknown;
  try {
    // JSON is YAML too
    parsed = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw ingressError('INGRESS_GATEWAY_PRICES_INVALID', `AGENTQ_MODEL_PRICES: ${path} cannot be read as JSON or YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = pricesFileSchema.safeParse(parsed);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw ingressError('INGRESS_GATEWAY_PRICES_INVALID', `AGENTQ_MODEL_PRICES: ${path} is not a table of model prices: ${problems}`);
  }
  return result.data;
}

/** The characters that may follow a known model id in a longer one (a date, a version, a region). */
const ID_BOUNDARY = /^[-@:]/;

/** The price table: exact id first, then the longest known prefix ending at a boundary. */
export class PriceTable {
  private readonly prices: Map<string, ModelPrice>;
  private readonly byLength: string[];

  constructor(
    prices: Readonly<Record<string, ModelPrice>>,
    readonly fallback: ModelPrice,
  ) {
    this.prices = new Map(Object.entries(prices));
    this.byLength = [...this.prices.keys()].sort((a, b) => b.length - a.length);
  }

  /** The price of a model, or undefined when the table does not know it. */
  find(model: string): ModelPrice | undefined {
    const exact = this.prices.get(model);
    if (exact) return exact;
    const prefix = this.byLength.find((id) => model.startsWith(id) && ID_BOUNDARY.test(model.slice(id.length)));
    return prefix === undefined ? undefined : this.prices.get(prefix);
  }
}

/** The built-in table with the prices file on top (throws at start for a bad file). */
export function loadPriceTable(options: { pricesFile: string | undefined; defaultPrice: ModelPrice }): PriceTable {
  const extra = options.pricesFile === undefined ? {} : readPricesFile(options.pricesFile);
  return new PriceTable({ ...BUILT_IN_PRICES, ...extra }, options.defaultPrice);
}

/** Tokens of one model call, as billed: `input` excludes the cached tokens read and written. */
export interface CallUsage {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite: number;
}

/** USD of a call at a price. */
export function costOf(usage: CallUsage, price: ModelPrice): number {
  const cacheRead = price.cacheRead ?? price.input;
  const cacheWrite = price.cacheWrite ?? price.input * 1.25;
  return (usage.input * price.input + usage.output * price.output + usage.cacheRead * cacheRead + usage.cacheWrite * cacheWrite) / 1_000_000;
}
