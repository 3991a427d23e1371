import { describe, expect, it } from 'vitest';
import { BUILT_IN_PRICES, PriceTable, costOf } from '../src/gateway/model-prices.js';

const table = new PriceTable(BUILT_IN_PRICES, { input: 15, output: 75 });

describe('model gateway price table', () => {
  it('matches an id exactly, then by its longest known prefix ending at a boundary', () => {
    expect(table.find('claude-sonnet-4-5')).toBe(BUILT_IN_PRICES['claude-sonnet-4-5']);
    expect(table.find('claude-sonnet-4-5-20250929')).toBe(BUILT_IN_PRICES['claude-sonnet-4-5']);
    expect(table.find('claude-opus-4-20250514')).toBe(BUILT_IN_PRICES['claude-opus-4']);
    expect(table.find('claude-opus-4-1-20250805')).toBe(BUILT_IN_PRICES['claude-opus-4-1']);
    expect(table.find('claude-3-5-sonnet@20240620')).toBe(BUILT_IN_PRICES['claude-3-5-sonnet']);
    expect(table.find('gpt-5-mini-2025-08-07')).toBe(BUILT_IN_PRICES['gpt-5-mini']);
    expect(table.find('gpt-4.1-nano')).toBe(BUILT_IN_PRICES['gpt-4.1-nano']);
    expect(table.find('o4-mini-2025-04-16')).toBe(BUILT_IN_PRICES['o4-mini']);
    // a longer name is not a dated id of a shorter one
    expect(table.find('gpt-4o2')).toBeUndefined();
    expect(table.find('o3x')).toBeUndefined();
    expect(table.find('llama-3')).toBeUndefined();
  });

  it('prices cache reads and writes, defaulting to the input price and 1.25 × it', () => {
    const usage = { input: 1_000_000, output: 1_000_000, cacheRead: 1_000_000, cacheWrite: 1_000_000 };
    expect(costOf(usage, { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 })).toBeCloseTo(22.05, 9);
    expect(costOf(usage, { input: 2, output: 8 })).toBeCloseTo(2 + 8 + 2 + 2.5, 9);
  });

  it('gives every model of the built-in table a positive input and output price', () => {
    for (const [model, price] of Object.entries(BUILT_IN_PRICES)) {
      expect(price.input, model).toBeGreaterThan(0);
      expect(price.output, model).toBeGreaterThan(price.input);
    }
  });
});
