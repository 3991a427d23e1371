import { InvalidArgumentError } from 'commander';

/** A commander option parser for whole numbers within a range. */
export function intOption(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return n;
  };
}

/** A commander option parser for a dollar amount above 0 and at most `max`. */
export function usdOption(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value.trim()) || !(n > 0) || n > max) {
      throw new InvalidArgumentError(`must be an amount in USD above 0 and at most ${max}`);
    }
    return n;
  };
}
